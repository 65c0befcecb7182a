package expression

// Env is what an expression reads. Uplink converters see the message (payload, text, json) and its metadata;
// downlink converters see the request (method, params, key, value) and the same metadata. Fields a connector has
// no value for are empty. The expression names are the `expr` tags.
type Env struct {
	// Payload is the message as bytes ([]byte; payload[0] is a byte as an integer, payload[2:6] a slice).
	Payload []byte `expr:"payload"`
	// Text is the payload as text (no decoding: the same bytes).
	Text string `expr:"text"`
	// JSON is the payload parsed as JSON (objects, lists, strings, bools, integers as int, other numbers as
	// float), or nil when the payload is not JSON. Parsed only when the expression names json.
	JSON any `expr:"json"`
	// Data is what a connector reads that is not one payload: Modbus registers and coils by key, OPC-UA node
	// values by key (see docs/converters.md for each connector).
	Data map[string]any `expr:"data"`
	// Topic is the MQTT topic of the message (empty elsewhere).
	Topic string `expr:"topic"`
	// Device and DeviceType are the configured device's name and profile, where the connector's configuration
	// names one (Modbus, OPC-UA, BLE); a record without deviceName goes to Device.
	Device     string `expr:"device"`
	DeviceType string `expr:"deviceType"`
	// Address is where the data came from: a Modbus host:port or serial port, an OPC-UA endpoint, a BLE MAC.
	Address string `expr:"address"`
	// Connector is the connector's name.
	Connector string `expr:"connector"`
	// TS is when the gateway received the message, in ms since the Unix epoch; a record's default timestamp.
	TS int64 `expr:"ts"`
	// Config is the converter's "extensionConfig" object as written (nil when absent).
	Config any `expr:"config"`
	// Method is the RPC method of a downlink call, empty for an attribute update.
	Method string `expr:"method"`
	// Params is the RPC's params (parsed JSON) of a downlink call.
	Params any `expr:"params"`
	// Key and Value are the attribute of an attribute update (Key is the RPC method and Value its params for an
	// RPC).
	Key   string `expr:"key"`
	Value any    `expr:"value"`
}
