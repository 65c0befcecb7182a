package expression

import (
	"encoding/json"

	tbgateway "github.com/tbgateway/tbgateway"
)

// Name is the converter registry name of expression converters: a configuration naming the custom converter
// "expression" (an MQTT converter of type custom with "extension": "expression", a BLE "extension") gets an
// Uplink built from the converter object's "expression" keys.
const Name = "expression"

func init() {
	tbgateway.RegisterConverter(Name, func(raw json.RawMessage) (tbgateway.Converter, error) {
		u, err := Factory(raw)
		if err != nil {
			return nil, err
		}
		return u, nil
	})
}
