package mqtt

import (
	"time"
)

// Decoding of the requestsMapping sections (see Decode).

func decodeDeviceRequest(n *node) DeviceRequestConfig {
	d := DeviceRequestConfig{}
	d.TopicFilter = n.str("topicFilter", "")
	if d.TopicFilter == "" && n.r.err == nil {
		n.r.failf(n.key("topicFilter"), "required")
	}
	if di := n.object("deviceInfo"); di != nil {
		d.DeviceInfo = decodeDeviceInfo(di, false)
	} else if n.r.err == nil {
		n.r.failf(n.key("deviceInfo"), "required")
	}
	n.done()
	return d
}

func decodeAttributeRequest(n *node) AttributeRequestConfig {
	a := AttributeRequestConfig{}
	a.TopicFilter = n.str("topicFilter", "")
	if a.TopicFilter == "" && n.r.err == nil {
		n.r.failf(n.key("topicFilter"), "required")
	}
	if di := n.object("deviceInfo"); di != nil {
		a.DeviceInfo = decodeDeviceInfo(di, false)
	} else if n.r.err == nil {
		n.r.failf(n.key("deviceInfo"), "required")
	}
	a.AttributeNameSource = n.oneOf("attributeNameExpressionSource", SourceMessage, SourceMessage, SourceTopic, SourceConstant)
	a.AttributeNameExpression = n.str("attributeNameExpression", "")
	a.Client = n.oneOf("scope", "shared", "shared", "client") == "client"
	a.TopicExpression = n.str("topicExpression", "")
	a.ValueExpression = n.str("valueExpression", "")
	a.Retain = n.boolean("retain", false)
	a.QoS = decodeQoS(n, "qos", 0)
	for _, k := range []string{"attributeNameExpression", "topicExpression", "valueExpression"} {
		if s, _ := n.m[k].(string); s == "" && n.r.err == nil {
			n.r.failf(n.key(k), "required")
		}
	}
	n.done()
	return a
}

func decodeAttributeUpdate(n *node) AttributeUpdateConfig {
	a := AttributeUpdateConfig{}
	a.DeviceNameFilter = n.str("deviceNameFilter", ".*")
	a.AttributeFilter = n.str("attributeFilter", "")
	a.TopicExpression = n.str("topicExpression", "")
	a.ValueExpression = n.str("valueExpression", "")
	a.Retain = n.boolean("retain", false)
	a.QoS = decodeQoS(n, "qos", 0)
	for _, k := range []string{"attributeFilter", "topicExpression", "valueExpression"} {
		if s, _ := n.m[k].(string); s == "" && n.r.err == nil {
			n.r.failf(n.key(k), "required")
		}
	}
	n.done()
	return a
}

func decodeRPC(n *node) RPCConfig {
	c := RPCConfig{}
	typ := n.oneOf("type", "", "", "oneWay", "twoWay")
	c.DeviceNameFilter = n.str("deviceNameFilter", ".*")
	c.MethodFilter = n.str("methodFilter", "")
	c.RequestTopicExpression = n.str("requestTopicExpression", "")
	c.ResponseTopicExpression = n.str("responseTopicExpression", "")
	c.ValueExpression = n.str("valueExpression", "")
	c.Timeout = time.Duration(n.integer("responseTimeout", DefaultRPCTimeout.Milliseconds(), 1, 86_400_000)) * time.Millisecond
	c.ResponseQoS = decodeQoS(n, "responseTopicQoS", 1)
	c.Retain = n.boolean("retain", false)
	c.QoS = decodeQoS(n, "qos", 0)
	for _, k := range []string{"methodFilter", "requestTopicExpression", "valueExpression"} {
		if s, _ := n.m[k].(string); s == "" && n.r.err == nil {
			n.r.failf(n.key(k), "required")
		}
	}
	if typ == "twoWay" && c.ResponseTopicExpression == "" && n.r.err == nil {
		n.r.failf(n.key("responseTopicExpression"), "required for a twoWay rule")
	}
	if typ == "oneWay" {
		c.ResponseTopicExpression = ""
	}
	n.done()
	return c
}
