package tbgateway

import (
	"fmt"
	"sort"
	"sync"
)

// ConnectorType describes a connector implementation a package registers under its config "type".
type ConnectorType struct {
	// Type is the connector type as written in the main config's "connectors" list, lower case.
	Type string
	// New builds a connector from its configuration.
	New ConnectorFactory
	// Check validates a configuration without building the connector; optional (New is used when nil).
	Check ConfigChecker
}

var registry = struct {
	sync.RWMutex
	types map[string]ConnectorType
}{types: map[string]ConnectorType{}}

// RegisterConnector makes a connector type available; connector packages call it from init. It panics on an empty
// type, a nil factory or a duplicate registration, which are programming errors.
func RegisterConnector(ct ConnectorType) {
	if ct.Type == "" || ct.New == nil {
		panic("tbgateway: RegisterConnector with empty type or nil factory")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.types[ct.Type]; dup {
		panic(fmt.Sprintf("tbgateway: connector type %q registered twice", ct.Type))
	}
	registry.types[ct.Type] = ct
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
