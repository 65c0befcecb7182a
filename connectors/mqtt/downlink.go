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
			topic, payload := render(u.topic, vars), render(u.value, vars)
			if err := c.publish(ctx, topic, u.cfg.QoS, u.cfg.Retain, []byte(payload)); err != nil {
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

// HandleRPC serves a server-side RPC with the first serverSideRpc rule whose deviceNameFilter and methodFilter
// are found anywhere in the device name and the method (Python's re.search). A one-way rule publishes the request
// and replies {"success": true}; a two-way rule subscribes to the response topic, publishes the request and
// replies with the first message on that topic (its JSON as it is, other text as a JSON string), or fails when
// none arrives within the rule's responseTimeout.
func (c *Connector) HandleRPC(ctx context.Context, req tbgateway.RPCRequest) (json.RawMessage, error) {
	if req.Device == "" {
		return nil, fmt.Errorf("the mqtt connector has no connector-wide method %q", req.Method)
	}
	rule := c.c.rpcRule(req.Device, req.Method)
	vars := rpcVars(req)
	if rule == nil {
		var err error
		if rule, err = reservedRule(req); err != nil {
			return nil, err
		}
		if rule == nil {
			return nil, fmt.Errorf("device %q: no serverSideRpc rule matches method %q", req.Device, req.Method)
		}
	}
	topic, payload := render(rule.request, vars), []byte(render(rule.value, vars))
	if !rule.cfg.TwoWay() {
		if err := c.publish(ctx, topic, rule.cfg.QoS, rule.cfg.Retain, payload); err != nil {
			return nil, fmt.Errorf("device %q: rpc %q: %w", req.Device, req.Method, err)
		}
		return json.RawMessage(`{"success":true}`), nil
	}
	conn := c.current()
	if conn == nil {
		return nil, fmt.Errorf("device %q: rpc %q: %w", req.Device, req.Method, errNotConnected)
	}
	respTopic := render(rule.resp, vars)
	reply := make(chan []byte, 1)
	if !c.await(respTopic, reply) {
		return nil, fmt.Errorf("device %q: rpc %q: another request already waits on response topic %q", req.Device, req.Method, respTopic)
	}
	defer c.stopAwait(respTopic)
	if err := conn.Subscribe(ctx, []subscription{{filter: respTopic, qos: rule.cfg.ResponseQoS}}); err != nil {
		return nil, fmt.Errorf("device %q: rpc %q: response topic %q: %w", req.Device, req.Method, respTopic, err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Unsubscribe(uctx, respTopic)
	}()
	if err := conn.Publish(ctx, topic, rule.cfg.QoS, rule.cfg.Retain, payload); err != nil {
		return nil, fmt.Errorf("device %q: rpc %q: publish to %q: %w", req.Device, req.Method, topic, err)
	}
	t := time.NewTimer(rule.cfg.Timeout)
	defer t.Stop()
	select {
	case b := <-reply:
		if json.Valid(b) {
			return json.RawMessage(b), nil
		}
		s, _ := json.Marshal(string(b))
		return s, nil
	case <-t.C:
		return nil, fmt.Errorf("device %q: rpc %q: no response on %q within %v", req.Device, req.Method, respTopic, rule.cfg.Timeout)
	case <-ctx.Done():
		return nil, fmt.Errorf("device %q: rpc %q: %w", req.Device, req.Method, ctx.Err())
	}
}

func (c *Connector) await(topic string, ch chan []byte) bool {
	c.rpcMu.Lock()
	defer c.rpcMu.Unlock()
	if _, busy := c.waiting[topic]; busy {
		return false
	}
	c.waiting[topic] = ch
	return true
}

func (c *Connector) stopAwait(topic string) {
	c.rpcMu.Lock()
	delete(c.waiting, topic)
	c.rpcMu.Unlock()
}

// deliverResponse hands a message on an awaited RPC response topic to its waiting call and acknowledges it; it
// reports whether the message was such a response.
func (c *Connector) deliverResponse(m message) bool {
	c.rpcMu.Lock()
	ch, ok := c.waiting[m.topic]
	c.rpcMu.Unlock()
	if !ok {
		return false
	}
	select {
	case ch <- append([]byte(nil), m.payload...):
	default: // a second response: the first one won
	}
	m.ack()
	c.stats.acked.Add(1)
	return true
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
		return nil, fmt.Errorf("device %q: rpc %q: params must be a string \"requestTopicExpression=...;value=...\"", req.Device, req.Method)
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
				return nil, fmt.Errorf("device %q: rpc %q: responseTimeout %q is not a positive number of milliseconds", req.Device, req.Method, v)
			}
			cfg.Timeout = time.Duration(ms) * time.Millisecond
		}
	}
	if cfg.RequestTopicExpression == "" {
		return nil, fmt.Errorf("device %q: rpc %q: params name no requestTopicExpression", req.Device, req.Method)
	}
	if req.Method == "get" && cfg.ResponseTopicExpression == "" {
		return nil, fmt.Errorf("device %q: rpc \"get\": params name no responseTopicExpression", req.Device)
	}
	r := &rpcRule{cfg: cfg}
	var err error
	if r.request, err = parseTemplate(cfg.RequestTopicExpression); err == nil {
		if r.resp, err = parseTemplate(cfg.ResponseTopicExpression); err == nil {
			r.value, err = parseTemplate(cfg.ValueExpression)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("device %q: rpc %q: %w", req.Device, req.Method, err)
	}
	return r, nil
}
