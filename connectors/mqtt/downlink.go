package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/expression"
)

// UpdateAttributes publishes a shared-attribute update: for every attributeUpdates rule whose deviceNameFilter
// matches the device (Python's re.match) and every updated key its attributeFilter matches, the rule's
// valueExpression is published to its topicExpression, with ${deviceName}, ${attributeKey} and
// ${attributeValue} (objects and lists as JSON). It fails when no rule matches the device or a publish fails.
func (c *Connector) UpdateAttributes(ctx context.Context, device string, values map[string]any) error {
	if len(c.c.updates) == 0 {
		return fmt.Errorf("device %q: no attributeUpdates are configured", device)
	}
	var errs []error
	var err error
	deviceMatched, published := false, 0
	keys := sortedKeys(values)
	for _, u := range c.c.updates {
		if !matchStart(u.device, device) {
			continue
		}
		deviceMatched = true
		for _, k := range keys {
			if !matchStart(u.attr, k) {
				c.log.Debug("attribute does not match the filter, skipped", "device", device, "key", k, "filter", u.cfg.AttributeFilter)
				continue
			}
			vars := func(name string) (string, bool) {
				switch name {
				case "deviceName":
					return device, true
				case "attributeKey":
					return k, true
				case "attributeValue":
					return text(values[k]), true
				}
				return "", false
			}
			topic, payload := render(u.topic, vars), []byte(render(u.value, vars))
			if u.cfg.Downlink != nil {
				var send bool
				env := &expression.Env{Device: device, Connector: c.name, Key: k, Value: exprValue(values[k])}
				if topic, payload, send, err = downlinkOutput(u.cfg.Downlink, env, topic, payload); err != nil || !send {
					if err != nil {
						errs = append(errs, fmt.Errorf("device %q: attribute %q: %w", device, k, err))
					}
					continue
				}
			}
			if err := c.publish(ctx, topic, u.cfg.QoS, u.cfg.Retain, payload); err != nil {
				errs = append(errs, fmt.Errorf("device %q: attribute %q: %w", device, k, err))
				continue
			}
			published++
		}
	}
	if !deviceMatched {
		return fmt.Errorf("device %q: no attributeUpdates rule's deviceNameFilter matches it", device)
	}
	if published == 0 && len(errs) == 0 {
		c.log.Info("attribute update: no rule's attributeFilter matches the keys", "device", device, "keys", keys)
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// rpcVars returns the variables of RPC expressions: ${deviceName}, ${methodName}, ${requestId}, ${params}
// (a string parameter as it is, anything else as JSON) and ${params.path} (a value inside the params).
func rpcVars(req tbgateway.RPCRequest) func(string) (string, bool) {
	params := decodePayload(req.Params)
	return func(name string) (string, bool) {
		switch name {
		case "deviceName":
			return req.Device, true
		case "methodName":
			return req.Method, true
		case "requestId":
			return strconv.FormatInt(req.ID, 10), true
		case "params":
			if params == nil {
				return strings.TrimSpace(string(req.Params)), true
			}
			return text(params), true
		}
		if sub, ok := strings.CutPrefix(name, "params."); ok {
			p, err := parsePath(sub)
			if err != nil {
				return "", false
			}
			if v, ok := p.get(params); ok {
				return text(v), true
			}
		}
		return "", false
	}
}

// HandleRPC serves a server-side RPC. For a device, the rule is the first serverSideRpc rule whose
// deviceNameFilter and methodFilter are found anywhere in the device name and the method (Python's re.search),
// else the reserved methods "get" and "set" (see reservedRule). A connector-level call (no device: ThingsBoard's
// "mqtt_<method>" to the gateway) carries its rule in its params (see connectorRule). A one-way rule publishes
// the request and replies {"success": true}; a two-way rule subscribes to the response topic, publishes the
// request and replies with the first message on that topic (its JSON as it is, other text as a JSON string), or
// fails when none arrives within the rule's responseTimeout. A two-way call waiting across a reconnect to the
// broker keeps waiting: its response topic is subscribed again with the connector's own topics.
func (c *Connector) HandleRPC(ctx context.Context, req tbgateway.RPCRequest) (json.RawMessage, error) {
	who := fmt.Sprintf("device %q", req.Device)
	var rule *rpcRule
	var err error
	switch {
	case req.Device == "":
		who = fmt.Sprintf("connector %q", c.name)
		rule, err = connectorRule(req)
	default:
		if rule = c.c.rpcRule(req.Device, req.Method); rule == nil {
			rule, err = reservedRule(req)
			if err == nil && rule == nil {
				err = fmt.Errorf("no serverSideRpc rule matches method %q", req.Method)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: rpc %q: %w", who, req.Method, err)
	}
	out, err := c.callRPC(ctx, req, rule)
	if err != nil {
		return nil, fmt.Errorf("%s: rpc %q: %w", who, req.Method, err)
	}
	return out, nil
}

// callRPC publishes the request of rule and, for a two-way rule, waits for the reply.
func (c *Connector) callRPC(ctx context.Context, req tbgateway.RPCRequest, rule *rpcRule) (json.RawMessage, error) {
	vars := rpcVars(req)
	topic, payload := render(rule.request, vars), []byte(render(rule.value, vars))
	if rule.cfg.Downlink != nil {
		params, _ := expression.ParseJSON(req.Params)
		env := &expression.Env{Device: req.Device, Connector: c.name, Method: req.Method, Params: params,
			Key: req.Method, Value: params}
		var send bool
		var err error
		if topic, payload, send, err = downlinkOutput(rule.cfg.Downlink, env, topic, payload); err != nil {
			return nil, err
		} else if !send {
			return nil, errors.New("the rule's expression returned nothing to send")
		}
	}
	if !rule.cfg.TwoWay() {
		if err := c.publish(ctx, topic, rule.cfg.QoS, rule.cfg.Retain, payload); err != nil {
			return nil, err
		}
		return json.RawMessage(`{"success":true}`), nil
	}
	respTopic := render(rule.resp, vars)
	w := &responseWait{qos: rule.cfg.ResponseQoS, reply: make(chan []byte, 1)}
	conn, busy := c.await(respTopic, w)
	if busy {
		return nil, fmt.Errorf("another request already waits on response topic %q", respTopic)
	}
	defer c.stopAwait(ctx, respTopic)
	if conn == nil {
		return nil, errNotConnected
	}
	if err := conn.Subscribe(ctx, []subscription{{filter: respTopic, qos: w.qos}}); err != nil {
		return nil, fmt.Errorf("response topic %q: %w", respTopic, err)
	}
	if err := conn.Publish(ctx, topic, rule.cfg.QoS, rule.cfg.Retain, payload); err != nil {
		return nil, fmt.Errorf("publish to %q: %w", topic, err)
	}
	t := time.NewTimer(rule.cfg.Timeout)
	defer t.Stop()
	select {
	case b := <-w.reply:
		if json.Valid(b) {
			return json.RawMessage(b), nil
		}
		s, _ := json.Marshal(string(b))
		return s, nil
	case <-t.C:
		return nil, fmt.Errorf("no response on %q within %v", respTopic, rule.cfg.Timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// responseWait is a two-way RPC waiting for the first message on its response topic.
type responseWait struct {
	qos   byte
	reply chan []byte // buffered 1: the first response wins
}

// await registers w for topic and returns the current connection (nil while disconnected), or busy when another
// call already waits on that topic.
func (c *Connector) await(topic string, w *responseWait) (conn brokerConn, busy bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, busy := c.waiting[topic]; busy {
		return nil, true
	}
	c.waiting[topic] = w
	return c.conn, false
}

// stopAwait forgets the waiting call of topic and unsubscribes it on the connection of the moment.
func (c *Connector) stopAwait(ctx context.Context, topic string) {
	c.mu.Lock()
	delete(c.waiting, topic)
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = conn.Unsubscribe(uctx, topic)
}

// deliverResponse hands a message on an awaited RPC response topic to its waiting call and acknowledges it; it
// reports whether the message was such a response.
func (c *Connector) deliverResponse(m message) bool {
	c.mu.Lock()
	w, ok := c.waiting[m.topic]
	c.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case w.reply <- append([]byte(nil), m.payload...):
	default: // a second response: the first one won
	}
	m.ack()
	c.stats.acked.Add(1)
	return true
}

// connectorRule builds the rule of a connector-level RPC from its params, a JSON object with the keys of a
// serverSideRpc rule, as the Python gateway reads them: requestTopicExpression, valueExpression (or value),
// and for a two-way call responseTopicExpression with responseTimeout (milliseconds, default 10000), plus qos,
// retain and responseTopicQoS. The expressions may use ${methodName}, ${requestId} and ${params.<path>}.
func connectorRule(req tbgateway.RPCRequest) (*rpcRule, error) {
	d := confjson.New("")
	root, err := d.Root(req.Params)
	if err != nil {
		return nil, fmt.Errorf("params must be an object {\"requestTopicExpression\": ..., \"valueExpression\": ...}: %w", err)
	}
	m := root.Map()
	if v, ok := m["value"]; ok {
		if _, both := m["valueExpression"]; !both {
			m["valueExpression"] = v
			delete(m, "value")
		}
	}
	m["methodFilter"] = ".*"
	cfg := decodeRPC(root)
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	r := &rpcRule{cfg: cfg}
	if r.request, err = parseTemplate(cfg.RequestTopicExpression); err != nil {
		return nil, fmt.Errorf("params.requestTopicExpression: %w", err)
	}
	if r.resp, err = parseTemplate(cfg.ResponseTopicExpression); err != nil {
		return nil, fmt.Errorf("params.responseTopicExpression: %w", err)
	}
	if r.value, err = parseTemplate(cfg.ValueExpression); err != nil {
		return nil, fmt.Errorf("params.valueExpression: %w", err)
	}
	return r, nil
}

// reservedRule builds the rule of the reserved methods "get" and "set" when no configured rule matched: their
// string params carry the rule as "requestTopicExpression=...;responseTopicExpression=...;value=...;
// responseTimeout=..." (milliseconds), as in the Python gateway. It returns nil for other methods.
func reservedRule(req tbgateway.RPCRequest) (*rpcRule, error) {
	if req.Method != "get" && req.Method != "set" {
		return nil, nil
	}
	var text string
	if err := json.Unmarshal(req.Params, &text); err != nil {
		return nil, errors.New(`params must be a string "requestTopicExpression=...;value=..."`)
	}
	cfg := RPCConfig{Timeout: DefaultRPCTimeout, ResponseQoS: 1, QoS: 1}
	for _, part := range strings.Split(text, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "requestTopicExpression":
			cfg.RequestTopicExpression = strings.TrimSpace(v)
		case "responseTopicExpression":
			cfg.ResponseTopicExpression = strings.TrimSpace(v)
		case "value":
			cfg.ValueExpression = v
		case "responseTimeout":
			ms, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || ms <= 0 {
				return nil, fmt.Errorf("responseTimeout %q is not a positive number of milliseconds", v)
			}
			cfg.Timeout = time.Duration(ms) * time.Millisecond
		}
	}
	if cfg.RequestTopicExpression == "" {
		return nil, errors.New("params name no requestTopicExpression")
	}
	if req.Method == "get" && cfg.ResponseTopicExpression == "" {
		return nil, errors.New("params name no responseTopicExpression")
	}
	r := &rpcRule{cfg: cfg}
	var err error
	if r.request, err = parseTemplate(cfg.RequestTopicExpression); err == nil {
		if r.resp, err = parseTemplate(cfg.ResponseTopicExpression); err == nil {
			r.value, err = parseTemplate(cfg.ValueExpression)
		}
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// downlinkOutput evaluates a rule's expression: its topic and payload (bytes as they are, text as its bytes, other
// values as JSON) replace the rendered ones; send is false when it returned nil.
func downlinkOutput(d *expression.Downlink, env *expression.Env, topic string, payload []byte) (string, []byte, bool, error) {
	r, err := d.Eval(env)
	if err != nil || r == nil {
		return "", nil, false, err
	}
	if r.Has("topic") {
		if topic, err = r.String("topic"); err != nil {
			return "", nil, false, err
		}
	}
	if r.Has("payload") {
		if payload, err = r.Payload("payload"); err != nil {
			return "", nil, false, err
		}
	}
	if topic == "" {
		return "", nil, false, errors.New("the expression gave no topic")
	}
	return topic, payload, true, nil
}

// exprValue is a shared attribute's value as expressions see it (JSON objects and lists parsed).
func exprValue(v any) any {
	if raw, ok := v.(tbgateway.RawJSON); ok {
		t, _ := expression.ParseJSON(raw)
		return t
	}
	return v
}
