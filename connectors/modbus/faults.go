package modbus

import (
	"strconv"

	tbgateway "github.com/tbgateway/tbgateway"
)

// Device faults go through the connector kit's devicefault.Tracker, per device (no answer, connection lost,
// garbled frame) and per item (an exception for its registers, a value that does not decode), so each is logged
// once when it starts and once when it ends, and counted.

// DeviceFaults returns the device-fault counters; see tbgateway.DeviceFaultReporter.
func (c *Connector) DeviceFaults() tbgateway.DeviceFaultStats { return c.faults.Stats() }

func deviceFaultKey(d *device) string { return "device\x00" + d.cfg.Name }

func itemFaultKey(d *device, it *Item) string {
	return "item\x00" + d.cfg.Name + "\x00" + strconv.Itoa(it.FunctionCode) + ":" +
		strconv.Itoa(int(it.Address)) + "\x00" + it.Tag
}

// deviceFailed records a poll the device did not answer.
func (c *Connector) deviceFailed(d *device, err error) {
	c.faults.Fail(deviceFaultKey(d), err, "device", d.cfg.Name, "addr", d.cfg.url(), "unitId", d.cfg.UnitID)
}

// deviceAnswers records a poll the device answered.
func (c *Connector) deviceAnswers(d *device) { c.faults.OK(deviceFaultKey(d)) }

// itemFailed records an item the device refused or whose value does not decode.
func (c *Connector) itemFailed(d *device, it *Item, err error) {
	c.faults.Fail(itemFaultKey(d, it), err, "device", d.cfg.Name, "key", it.Tag,
		"functionCode", it.FunctionCode, "address", it.Address)
}

// itemRead records an item read and decoded; it builds no key while nothing fails.
func (c *Connector) itemRead(d *device, it *Item) {
	if c.faults.Stats().Active > 0 {
		c.faults.OK(itemFaultKey(d, it))
	}
}
