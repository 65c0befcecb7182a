package uplink

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tbgateway/tbgateway"
)

// RequestAttributes asks ThingsBoard (gateway API) for attributes of a device behind the gateway, client scope
// when client is true, else shared, and returns the values found (absent keys are missing from the map; empty
// keys asks for all). It fails with tbgateway.ErrNotConnected when the link is down, and after RequestTimeout
// (20s by default) or when ctx ends.
func (c *Client) RequestAttributes(ctx context.Context, device string, client bool, keys []string) (map[string]any, error) {
	l := c.current()
	if l == nil {
		return nil, fmt.Errorf("attribute request for %q: %w", device, tbgateway.ErrNotConnected)
	}
	id := c.reqID.Add(1)
	b := append([]byte(nil), `{"id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"device":`...)
	b = appendString(b, device)
	b = append(b, `,"client":`...)
	b = strconv.AppendBool(b, client)
	b = append(b, `,"keys":[`...)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
	}
	b = append(b, "]}"...)
	ctx, cancel := context.WithTimeout(ctx, c.conf().RequestTimeout)
	defer cancel()
	ch := c.pending.add(&c.pending.gw, id)
	defer c.pending.remove(&c.pending.gw, id)
	c.chargeDevice(device)
	if err := c.publishOn(ctx, l, topicGwAttrReq, b); err != nil {
		return nil, fmt.Errorf("attribute request for %q: %w", device, err)
	}
	var raw json.RawMessage
	select {
	case raw = <-ch:
	case <-ctx.Done():
		return nil, fmt.Errorf("attribute request for %q: no answer: %w", device, ctx.Err())
	}
	var resp struct {
		Value  json.RawMessage            `json:"value"`
		Values map[string]json.RawMessage `json:"values"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, fmt.Errorf("attribute response for %q: %w", device, err)
	}
	out := decodeValues(resp.Values)
	if resp.Value != nil && len(keys) == 1 {
		out[keys[0]] = decodeValue(resp.Value)
	}
	return out, nil
}

// RequestOwnAttributes asks ThingsBoard (device API) for the gateway device's own client and shared attributes.
// With both key lists empty ThingsBoard returns all of them. Errors as RequestAttributes.
func (c *Client) RequestOwnAttributes(ctx context.Context, clientKeys, sharedKeys []string) (client, shared map[string]any, err error) {
	l := c.current()
	if l == nil {
		return nil, nil, fmt.Errorf("own attribute request: %w", tbgateway.ErrNotConnected)
	}
	req := map[string]string{}
	if len(clientKeys) > 0 {
		req["clientKeys"] = strings.Join(clientKeys, ",")
	}
	if len(sharedKeys) > 0 {
		req["sharedKeys"] = strings.Join(sharedKeys, ",")
	}
	body, _ := json.Marshal(req) // map[string]string always encodes
	ctx, cancel := context.WithTimeout(ctx, c.conf().RequestTimeout)
	defer cancel()
	if err := c.waitOwnRate(ctx, false, 0); err != nil {
		return nil, nil, fmt.Errorf("own attribute request: %w", err)
	}
	id := c.reqID.Add(1)
	ch := c.pending.add(&c.pending.own, id)
	defer c.pending.remove(&c.pending.own, id)
	if err := c.publishOn(ctx, l, topicMeAttrReqPfx+strconv.FormatInt(id, 10), body); err != nil {
		return nil, nil, fmt.Errorf("own attribute request: %w", err)
	}
	var raw json.RawMessage
	select {
	case raw = <-ch:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("own attribute request: no answer: %w", ctx.Err())
	}
	var resp struct {
		Client map[string]json.RawMessage `json:"client"`
		Shared map[string]json.RawMessage `json:"shared"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, nil, fmt.Errorf("own attribute response: %w", err)
	}
	return decodeValues(resp.Client), decodeValues(resp.Shared), nil
}

// PublishOwnTelemetry sends the gateway device's own telemetry (v1/devices/me/telemetry) at QoS 1 and waits for
// a successful PUBACK. ts is in ms; 0 lets ThingsBoard stamp it. The gateway device's rate limits apply.
func (c *Client) PublishOwnTelemetry(ctx context.Context, ts int64, values map[string]any) error {
	obj, err := encodeObject(values)
	if err != nil {
		return fmt.Errorf("own telemetry: %w", err)
	}
	body := obj
	if ts != 0 {
		body = append([]byte(`{"ts":`), strconv.AppendInt(nil, ts, 10)...)
		body = append(body, `,"values":`...)
		body = append(append(body, obj...), '}')
	}
	return c.publishOwn(ctx, topicMeTelemetry, body, true, len(values))
}

// PublishOwnAttributes sends client attributes of the gateway device (v1/devices/me/attributes), waiting for
// the PUBACK.
func (c *Client) PublishOwnAttributes(ctx context.Context, values map[string]any) error {
	obj, err := encodeObject(values)
	if err != nil {
		return fmt.Errorf("own attributes: %w", err)
	}
	return c.publishOwn(ctx, topicMeAttributes, obj, false, 0)
}

// ConnectDevice announces a device behind the gateway (v1/gateway/connect) and waits for the PUBACK. typ empty
// means tbgateway.DefaultDeviceType.
func (c *Client) ConnectDevice(ctx context.Context, name, typ string) error {
	l := c.current()
	if l == nil {
		return fmt.Errorf("connect device %q: %w", name, tbgateway.ErrNotConnected)
	}
	if typ == "" {
		typ = tbgateway.DefaultDeviceType
	}
	b := appendString([]byte(`{"device":`), name)
	b = append(b, `,"type":`...)
	b = append(appendString(b, typ), '}')
	c.chargeDevice(name)
	if err := c.publishOn(ctx, l, topicGwConnect, b); err != nil {
		return fmt.Errorf("connect device %q: %w", name, err)
	}
	return nil
}

func (c *Client) publishOwn(ctx context.Context, topic string, body []byte, telemetry bool, dps int) error {
	l := c.current()
	if l == nil {
		return fmt.Errorf("publish %s: %w", topic, tbgateway.ErrNotConnected)
	}
	if err := c.waitOwnRate(ctx, telemetry, dps); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return c.publishOn(ctx, l, topic, body)
}

// chargeDevice counts one message against a device's limits (no wait: these are rare control messages).
func (c *Client) chargeDevice(dev string) {
	now := time.Now()
	c.mu.Lock()
	c.deviceRatesLocked(dev, now).take(1, 0, 0)
	c.mu.Unlock()
}

// encodeObject writes values as a JSON object with sorted keys.
func encodeObject(values map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendKV(b, k, values[k]); !ok {
			return nil, fmt.Errorf("key %q: value of type %T cannot be encoded", k, values[k])
		}
	}
	return append(b, '}'), nil
}
