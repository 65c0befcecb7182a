package runtime

import "github.com/tbgateway/tbgateway"

// Client attributes that tell ThingsBoard which connector serves a device, as the Python gateway sends them.
const (
	attrConnectorType = "connectorType"
	attrConnectorName = "connectorName"
)

// deviceDetails is the client-attribute record sent right after a device's connect: its connector's type and
// name. The Python gateway sends it when it adds a device (new, reconnected after a disconnect, or moved to
// another connector); so does this gateway, with every connect record the sink decides on. device is the name
// used at ThingsBoard. The record is not counted in the connector's statistics (the Python gateway
// sends it beside its storage).
// conn is the device's connect record.
func deviceDetails(c *runningConnector, conn tbgateway.Record, receivedTS int64) tbgateway.Record {
	return tbgateway.Record{Device: conn.Device, DeviceType: conn.DeviceType, Connector: c.name, ReceivedTS: receivedTS,
		Attributes: map[string]any{attrConnectorType: c.typ, attrConnectorName: c.name}}
}
