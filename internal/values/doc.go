// Package values is the connector kit's one conversion between JSON values and record values.
//
// Record values (tbgateway.Telemetry.Values, tbgateway.Record.Attributes) are bool, int64, float64, string or
// tbgateway.RawJSON (an object or a list). Values arrive as a decoded JSON tree (json.Decoder with UseNumber, or
// confjson: map[string]any, []any, string, bool, json.Number, nil), as text from a device, or from ThingsBoard
// (shared attributes and RPC params: already record values, RawJSON for objects and lists).
//
// The rules, one each, as the Python gateway applies them:
//   - numbers: an integer literal that fits int64 is int64, anything else float64 (ParseNumber, FromJSON);
//   - booleans: true/false, a number is true when not 0, text true/1/yes/on and false/0/no/off in any case
//     (ToBool);
//   - objects and lists are kept as JSON (RawJSON, keys sorted), and turned back into a tree with Tree;
//   - the converters' type hints (string, int, double, bool, json, ...) through Cast; text for templates
//     through Text; device timestamps through Millis.
//
// Every error wraps ErrConversion and names the value. Uplink (device to ThingsBoard):
//
//	v, err := values.FromJSON(tree["temperature"]) // json.Number("21.5") -> 21.5, "21" -> int64(21)
//	v, err := values.Cast(found, dp.Type)            // the mapping's "type" hint
//
// Downlink (ThingsBoard to device), e.g. writing a coil or a Boolean node:
//
//	on, err := values.ToBool(params) // true, 1, "on", RawJSON("true") ...
//	n, err := values.ToInt(params)   // 12, "12", 12.0; 12.5 is an error (Truncate drops the fraction)
package values
