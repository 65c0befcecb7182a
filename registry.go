package tbgateway

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
)

// ConnectorType describes a connector implementation a package registers under its config "type". It is part
// of the stable connector API: fields are only ever added.
type ConnectorType struct {
	// Type is the connector type as written in the main config's "connectors" list, lower case.
	Type string
	// New builds a connector from its configuration.
	New ConnectorFactory
	// Check validates a configuration without building the connector; optional (New is used when nil).
	Check ConfigChecker
	// Classes, optional, are the Python gateway's connector class names (the "class" key of a main-config
	// "connectors" entry, e.g. "SerialConnector") this type stands in for: an entry naming one of them runs this
	// type whatever its "type" says ("custom", "serial", ...). Each class belongs to one type.
	Classes []string
}

var registry = struct {
	sync.RWMutex
	types map[string]ConnectorType
}{types: map[string]ConnectorType{}}

// RegisterConnector makes a connector type available; connector packages call it from init, and the package is
// compiled in by one blank import in cmd/tbgateway/connectors.go. It panics on an empty type, a nil factory, a
// duplicate type or a class another type declared, which are programming errors.
func RegisterConnector(ct ConnectorType) {
	if ct.Type == "" || ct.New == nil {
		panic("tbgateway: RegisterConnector with empty type or nil factory")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.types[ct.Type]; dup {
		panic(fmt.Sprintf("tbgateway: connector type %q registered twice", ct.Type))
	}
	for _, class := range ct.Classes {
		if other, dup := connectorByClass(class); dup {
			panic(fmt.Sprintf("tbgateway: connector class %q registered by types %q and %q", class, other.Type, ct.Type))
		}
	}
	registry.types[ct.Type] = ct
}

// LookupConnectorClass returns the registered connector type that stands in for the Python connector class
// (see ConnectorType.Classes), if any. Class names are compared exactly, as the Python gateway loads them.
func LookupConnectorClass(class string) (ConnectorType, bool) {
	registry.RLock()
	defer registry.RUnlock()
	return connectorByClass(class)
}

// connectorByClass finds the type declaring class; the caller holds the registry lock.
func connectorByClass(class string) (ConnectorType, bool) {
	for _, ct := range registry.types {
		if slices.Contains(ct.Classes, class) {
			return ct, true
		}
	}
	return ConnectorType{}, false
}

// LookupConnector returns the registered connector type, if any.
func LookupConnector(typ string) (ConnectorType, bool) {
	registry.RLock()
	defer registry.RUnlock()
	ct, ok := registry.types[typ]
	return ct, ok
}

// ConnectorTypes lists the registered connector types, sorted.
func ConnectorTypes() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.types))
	for t := range registry.types {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ConverterFactory builds a converter from its configuration (the converter's JSON object from a connector
// file). It does no I/O.
type ConverterFactory func(config json.RawMessage) (Converter, error)

var converters = struct {
	sync.RWMutex
	byName map[string]ConverterFactory
}{byName: map[string]ConverterFactory{}}

// RegisterConverter makes a named converter available to connectors whose configuration names a custom converter
// (the Python configs' "extension"/"converter" class names); Go packages compiled into the binary call it from
// init. It panics on an empty name, a nil factory or a duplicate, which are programming errors.
func RegisterConverter(name string, f ConverterFactory) {
	if name == "" || f == nil {
		panic("tbgateway: RegisterConverter with empty name or nil factory")
	}
	converters.Lock()
	defer converters.Unlock()
	if _, dup := converters.byName[name]; dup {
		panic(fmt.Sprintf("tbgateway: converter %q registered twice", name))
	}
	converters.byName[name] = f
}

// LookupConverter returns the converter factory registered under name, if any.
func LookupConverter(name string) (ConverterFactory, bool) {
	converters.RLock()
	defer converters.RUnlock()
	f, ok := converters.byName[name]
	return f, ok
}
