package mqtt

// dateFailed reports a tsField date the connector cannot read: logged once when the device's key starts failing
// (with the device, topic and key), counted, and at debug level after that; the reading keeps the message's
// timestamp (its "ts" or "timestamp", else the time it was received), as in the Python gateway.
func (c *Connector) dateFailed(device, topic, key string, err error) {
	c.faults.Fail("date\x00"+device+"\x00"+key, err, "device", device, "topic", topic, "key", key)
}

// dateParsed ends a failing episode of the device's key, if there was one.
func (c *Connector) dateParsed(device, key string) {
	c.faults.OK("date\x00" + device + "\x00" + key)
}
