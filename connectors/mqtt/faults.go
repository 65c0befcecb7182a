package mqtt

import (
	tbgateway "github.com/tbgateway/tbgateway"
)

// Device faults go through the connector kit's devicefault.Tracker: a payload that a mapping's converter, a
// request handler or the gateway's validation refuses is a fault of its topic under that handler, so a topic
// receiving garbage is logged once when it starts and once when a good payload arrives there again, and counted;
// so are unreadable tsField dates per device and key (see dateFailed).

// Handlers a payload fault names besides a mapping's converter.
const (
	handlerMapping    = "mapping"           // a mapping's converter, named by its topic filter
	handlerValidation = "record validation" // the gateway refused the converted records
)

// DeviceFaults returns the device-fault counters; see tbgateway.DeviceFaultReporter.
func (c *Connector) DeviceFaults() tbgateway.DeviceFaultStats { return c.faults.Stats() }

func payloadFaultKey(handler, filter, topic string) string {
	return "payload\x00" + handler + "\x00" + filter + "\x00" + topic
}

// payloadFailed records a message on topic that handler (with its topic filter, for a mapping) could not use.
func (c *Connector) payloadFailed(handler, filter, topic string, err error) {
	c.stats.badPayloads.Add(1)
	attrs := []any{"topic", topic, "handler", handler}
	if filter != "" {
		attrs = append(attrs, "filter", filter)
	}
	c.faults.Fail(payloadFaultKey(handler, filter, topic), err, attrs...)
}

// payloadOK records a message on topic that handler used; it builds no key while nothing fails.
func (c *Connector) payloadOK(handler, filter, topic string) {
	if c.faults.Stats().Active > 0 {
		c.faults.OK(payloadFaultKey(handler, filter, topic))
	}
}
