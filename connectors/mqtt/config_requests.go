package mqtt

import (
	"time"

	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/expression"
)

// Decoding of the requestsMapping sections (see Decode). Each decoder is given a list item and calls its Done.

func decodeDeviceRequest(n *confjson.Object) DeviceRequestConfig {
	d := DeviceRequestConfig{}
	d.TopicFilter = n.String("topicFilter", "")
	required(n, "topicFilter", d.TopicFilter, "an MQTT topic filter")
	if n.Require("deviceInfo", "an object") {
		n.Sub("deviceInfo", func(di *confjson.Object) { d.DeviceInfo = decodeDeviceInfo(di, false) })
	}
	n.Done()
	return d
}

func decodeAttributeRequest(n *confjson.Object) AttributeRequestConfig {
	a := AttributeRequestConfig{}
	a.TopicFilter = n.String("topicFilter", "")
	required(n, "topicFilter", a.TopicFilter, "an MQTT topic filter")
	if n.Require("deviceInfo", "an object") {
		n.Sub("deviceInfo", func(di *confjson.Object) { a.DeviceInfo = decodeDeviceInfo(di, false) })
	}
	a.AttributeNameSource = n.OneOf("attributeNameExpressionSource", SourceMessage, SourceMessage, SourceTopic, SourceConstant)
	a.AttributeNameExpression = n.String("attributeNameExpression", "")
	a.Client = n.OneOf("scope", "shared", "shared", "client") == "client"
	a.TopicExpression = n.String("topicExpression", "")
	a.ValueExpression = n.String("valueExpression", "")
	a.Retain = n.Bool("retain", false)
	a.QoS = decodeQoS(n, "qos", 0)
	required(n, "attributeNameExpression", a.AttributeNameExpression, "an expression giving the attribute names")
	required(n, "topicExpression", a.TopicExpression, "the topic of the reply")
	required(n, "valueExpression", a.ValueExpression, "the payload of the reply")
	n.Done()
	return a
}

func decodeAttributeUpdate(n *confjson.Object) AttributeUpdateConfig {
	a := AttributeUpdateConfig{}
	a.DeviceNameFilter = n.String("deviceNameFilter", ".*")
	a.AttributeFilter = n.String("attributeFilter", "")
	a.TopicExpression = n.String("topicExpression", "")
	a.ValueExpression = n.String("valueExpression", "")
	a.Retain = n.Bool("retain", false)
	a.QoS = decodeQoS(n, "qos", 0)
	required(n, "attributeFilter", a.AttributeFilter, "a regular expression of attribute names")
	if a.Downlink = downlinkExpression(n); a.Downlink == nil {
		required(n, "topicExpression", a.TopicExpression, "the topic to publish to")
		required(n, "valueExpression", a.ValueExpression, "the payload to publish")
	}
	n.Done()
	return a
}

func decodeRPC(n *confjson.Object) RPCConfig {
	c := RPCConfig{}
	typ := n.OneOf("type", "", "", "oneWay", "twoWay")
	c.DeviceNameFilter = n.String("deviceNameFilter", ".*")
	c.MethodFilter = n.String("methodFilter", "")
	c.RequestTopicExpression = n.String("requestTopicExpression", "")
	c.ResponseTopicExpression = n.String("responseTopicExpression", "")
	c.ValueExpression = n.String("valueExpression", "")
	c.Timeout = time.Duration(n.Int("responseTimeout", DefaultRPCTimeout.Milliseconds(), 1, 86_400_000)) * time.Millisecond
	c.ResponseQoS = decodeQoS(n, "responseTopicQoS", 1)
	c.Retain = n.Bool("retain", false)
	c.QoS = decodeQoS(n, "qos", 0)
	required(n, "methodFilter", c.MethodFilter, "a regular expression of method names")
	if c.Downlink = downlinkExpression(n); c.Downlink == nil {
		required(n, "requestTopicExpression", c.RequestTopicExpression, "the topic of the request")
		required(n, "valueExpression", c.ValueExpression, "the payload of the request")
	}
	if typ == "twoWay" && c.ResponseTopicExpression == "" {
		n.Decoder().FailMissing(n.Key("responseTopicExpression"), "the response topic of a twoWay rule")
	}
	if typ == "oneWay" {
		c.ResponseTopicExpression = ""
	}
	n.Done()
	return c
}

// downlinkExpression compiles a rule's "expression" (docs/converters.md), nil when the rule has none. Its result's
// topic and payload replace the rule's topic and value expressions.
func downlinkExpression(n *confjson.Object) *expression.Downlink {
	if !n.Has("expression") {
		return nil
	}
	return expression.DecodeDownlink(n, expression.Env{})
}
