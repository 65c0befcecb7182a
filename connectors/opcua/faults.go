package opcua

import (
	"errors"
	"strconv"

	"github.com/gopcua/opcua/ua"
	tbgateway "github.com/tbgateway/tbgateway"
)

// Device faults go through the connector kit's devicefault.Tracker, per device key (a node that does not resolve,
// is refused as a monitored item or reads a bad status) and per mapping (a device node that does not resolve),
// so each is logged once when it starts and once when it ends, across re-scans and reconnects, and counted.

// DeviceFaults returns the device-fault counters; see tbgateway.DeviceFaultReporter.
func (c *Connector) DeviceFaults() tbgateway.DeviceFaultStats { return c.faults.Stats() }

func keyFaultKey(device, key string) string { return "key\x00" + device + "\x00" + key }

// keyFailed records a device key whose node does not resolve or answers with a bad status.
func (c *Connector) keyFailed(device, key string, node any, err error) {
	c.faults.Fail(keyFaultKey(device, key), err, "device", device, "key", key, "node", node)
}

// itemStatus records an item's status from a read, a notification or its monitored-item creation.
func (c *Connector) itemStatus(it *item, st ua.StatusCode) {
	if st&0x80000000 != 0 { // Bad
		c.keyFailed(it.dev.name, it.spec.key, it.node, errors.New(statusName(st)))
		return
	}
	if c.faults.Stats().Active > 0 {
		c.faults.OK(keyFaultKey(it.dev.name, it.spec.key))
	}
}

func mappingFaultKey(m *mapping) string { return "mapping\x00" + strconv.Itoa(m.idx) }

// mappingFailed records a device mapping whose node does not resolve; mappingResolved its recovery.
func (c *Connector) mappingFailed(m *mapping, err error) {
	c.faults.Fail(mappingFaultKey(m), err, "mapping", m.idx, "pattern", m.cfg.DeviceNodePattern)
}

func (c *Connector) mappingResolved(m *mapping) {
	if c.faults.Stats().Active > 0 {
		c.faults.OK(mappingFaultKey(m))
	}
}

func deviceNodeFaultKey(m *mapping, node *ua.NodeID) string {
	return "device\x00" + strconv.Itoa(m.idx) + "\x00" + node.String()
}

// deviceNodeFailed records a matched device node whose name, profile or keys cannot be resolved;
// deviceNodeResolved its recovery.
func (c *Connector) deviceNodeFailed(m *mapping, node *ua.NodeID, err error) {
	c.faults.Fail(deviceNodeFaultKey(m, node), err, "mapping", m.idx, "node", node)
}

func (c *Connector) deviceNodeResolved(m *mapping, node *ua.NodeID) {
	if c.faults.Stats().Active > 0 {
		c.faults.OK(deviceNodeFaultKey(m, node))
	}
}
