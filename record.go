// Package tbgateway holds the core types and the small interfaces every part of the gateway is built around:
// the unified record format that connectors produce, the Connector and Converter contracts, the Storage contract
// the uplink drains, and the downlink calls that carry ThingsBoard's attribute updates and RPCs back to devices.
//
// The data path is: connector → converter → report strategy → storage → uplink → ThingsBoard. This package imports
// only the standard library; concrete connectors, storages and the uplink live in their own packages and are wired
// together only by the runtime and cmd/.
//
// The connector API here (Connector, Sink, the optional downlink and listing interfaces, Record, ConnectorType and
// RegisterConnector) is stable: names are only ever added. Adding a connector is one folder under connectors/ and
// one import line in cmd/tbgateway/connectors.go; docs/writing-a-connector.md shows how.
package tbgateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// DefaultDeviceType is the device type (ThingsBoard device profile) used when a connector names none.
const DefaultDeviceType = "default"

// Kind says what a Record asks ThingsBoard to do for its device.
type Kind uint8

const (
	// KindData carries attributes and/or telemetry for the device.
	KindData Kind = iota
	// KindConnect announces the device (gateway API "connect") with its type.
	KindConnect
	// KindDisconnect closes the device's session at ThingsBoard (gateway API "disconnect").
	KindDisconnect
)

// String returns the lower-case name of the kind.
func (k Kind) String() string {
	switch k {
	case KindData:
		return "data"
	case KindConnect:
		return "connect"
	case KindDisconnect:
		return "disconnect"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Telemetry is one set of time-series values that share a timestamp.
type Telemetry struct {
	// TS is the timestamp in milliseconds since the Unix epoch. It is never zero in a stored record: a device's
	// own timestamp is kept, otherwise the gateway stamps it (see Stamper).
	TS int64 `json:"ts"`
	// Values maps a key to its value. Values are bool, int64, float64, string, or json.RawMessage holding a JSON
	// object or array; anything else is rejected by Record.Validate.
	Values map[string]any `json:"values"`
}

// Record is the unified format: what one device reported (or asks for) at one moment. Records are what connectors
// hand to the gateway, what storage keeps, and what the uplink sends; ordering is kept per Device.
type Record struct {
	// Kind selects data, connect or disconnect.
	Kind Kind `json:"kind,omitempty"`
	// Device is the device name at ThingsBoard; required.
	Device string `json:"device"`
	// DeviceType is the device profile name; empty means DefaultDeviceType.
	DeviceType string `json:"type,omitempty"`
	// Connector is the name of the connector that produced the record (for statistics and routing).
	Connector string `json:"connector,omitempty"`
	// Attributes are client-scope attributes of the device.
	Attributes map[string]any `json:"attributes,omitempty"`
	// Telemetry holds the time series, oldest first.
	Telemetry []Telemetry `json:"telemetry,omitempty"`
	// ReceivedTS is when the gateway received the data, in ms (for latency metrics); optional.
	ReceivedTS int64 `json:"rts,omitempty"`
}

// Datapoints returns the number of attribute and telemetry values the record carries.
func (r *Record) Datapoints() int {
	n := len(r.Attributes)
	for _, t := range r.Telemetry {
		n += len(t.Values)
	}
	return n
}

// ErrInvalidRecord is wrapped by every error Record.Validate returns.
var ErrInvalidRecord = errors.New("invalid record")

// MaxKeyLength is the longest key ThingsBoard stores.
const MaxKeyLength = 255

// Validate checks the record the way ThingsBoard would before it is stored, so that a record the server would
// reject as malformed never enters storage. It does no I/O.
func (r *Record) Validate() error {
	if strings.TrimSpace(r.Device) == "" {
		return fmt.Errorf("%w: empty device name", ErrInvalidRecord)
	}
	switch r.Kind {
	case KindConnect, KindDisconnect:
		return nil
	case KindData:
	default:
		return fmt.Errorf("%w: device %q: unknown kind %d", ErrInvalidRecord, r.Device, r.Kind)
	}
	if r.Datapoints() == 0 {
		return fmt.Errorf("%w: device %q: no attributes or telemetry", ErrInvalidRecord, r.Device)
	}
	for k, v := range r.Attributes {
		if err := validateKV(k, v); err != nil {
			return fmt.Errorf("%w: device %q: attribute: %v", ErrInvalidRecord, r.Device, err)
		}
	}
	for _, t := range r.Telemetry {
		if t.TS <= 0 {
			return fmt.Errorf("%w: device %q: telemetry timestamp %d is not positive", ErrInvalidRecord, r.Device, t.TS)
		}
		for k, v := range t.Values {
			if err := validateKV(k, v); err != nil {
				return fmt.Errorf("%w: device %q: telemetry: %v", ErrInvalidRecord, r.Device, err)
			}
		}
	}
	return nil
}

func validateKV(k string, v any) error {
	if strings.TrimSpace(k) == "" {
		return errors.New("blank key")
	}
	if len(k) > MaxKeyLength {
		return fmt.Errorf("key %.20q... longer than %d bytes", k, MaxKeyLength)
	}
	switch x := v.(type) {
	case bool, int64, string:
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("key %q: %v is not a JSON number", k, x)
		}
	case RawJSON:
		if err := validateRawJSON(x); err != nil {
			return fmt.Errorf("key %q: %v", k, err)
		}
	default:
		return fmt.Errorf("key %q: unsupported value type %T", k, v)
	}
	return nil
}

// MaxJSONDepth is the deepest nesting of objects and arrays accepted in a RawJSON value; deeper documents are
// refused before they are stored, since a server's JSON parser may reject them.
const MaxJSONDepth = 64

// validateRawJSON checks that a JSON value is a valid object or array no deeper than MaxJSONDepth.
func validateRawJSON(b RawJSON) error {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return errors.New("a JSON value must be an object or an array")
	}
	if !json.Valid(t) {
		return errors.New("invalid JSON")
	}
	depth, inString, escaped := 0, false, false
	for _, c := range t {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > MaxJSONDepth {
				return fmt.Errorf("JSON nested deeper than %d levels", MaxJSONDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// RawJSON is a value that is a JSON object or array, kept as its encoded text.
type RawJSON []byte

// MarshalJSON returns the raw text.
func (r RawJSON) MarshalJSON() ([]byte, error) { return r, nil }
