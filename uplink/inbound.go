package uplink

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"

	"github.com/eclipse/paho.golang/paho"
	"github.com/tbgateway/tbgateway"
)

// downlinkQueue bounds the server messages waiting for a downlink worker. When it is full, new ones are dropped
// and counted (DownlinkDropped) rather than blocking the connection's reader: ThingsBoard times the RPC out.
const downlinkQueue = 256

const (
	topicMeAttributes   = "v1/devices/me/attributes"
	topicMeAttrReqPfx   = "v1/devices/me/attributes/request/"
	topicMeAttrRespPfx  = "v1/devices/me/attributes/response/"
	topicMeRPCReqPfx    = "v1/devices/me/rpc/request/"
	topicMeRPCRespPfx   = "v1/devices/me/rpc/response/"
	topicMeTelemetry    = "v1/devices/me/telemetry"
	reasonRateLimitedTB = 150
)

// pendingRequests pairs answers with waiting requests by id.
type pendingRequests struct {
	mu  sync.Mutex
	rpc map[int64]chan json.RawMessage // client-side RPC of the gateway device
	own map[int64]chan json.RawMessage // attribute requests of the gateway device
	gw  map[int64]chan json.RawMessage // gateway-API attribute requests
}

func (p *pendingRequests) init() {
	p.rpc, p.own, p.gw = map[int64]chan json.RawMessage{}, map[int64]chan json.RawMessage{}, map[int64]chan json.RawMessage{}
}

func (p *pendingRequests) add(m *map[int64]chan json.RawMessage, id int64) chan json.RawMessage {
	ch := make(chan json.RawMessage, 1)
	p.mu.Lock()
	(*m)[id] = ch
	p.mu.Unlock()
	return ch
}

func (p *pendingRequests) remove(m *map[int64]chan json.RawMessage, id int64) {
	p.mu.Lock()
	delete(*m, id)
	p.mu.Unlock()
}

// answer hands an answer to the request waiting for id; it reports whether one was waiting.
func (p *pendingRequests) answer(m *map[int64]chan json.RawMessage, id int64, raw json.RawMessage) bool {
	p.mu.Lock()
	ch, ok := (*m)[id]
	delete(*m, id)
	p.mu.Unlock()
	if ok {
		ch <- raw // buffered, one answer per id
	}
	return ok
}

// onPublish runs on paho's reader path: answers are matched at once, everything else goes to the worker pool.
func (c *Client) onPublish(l *link, p *paho.Publish) {
	topic, payload := p.Topic, json.RawMessage(p.Payload)
	c.stats.received.Add(1)
	c.stats.receivedBytes.Add(uint64(len(payload)))
	switch {
	case strings.HasPrefix(topic, topicMeRPCRespPfx):
		c.answerByTopic(&c.pending.rpc, topic, topicMeRPCRespPfx, payload)
	case strings.HasPrefix(topic, topicMeAttrRespPfx):
		c.answerByTopic(&c.pending.own, topic, topicMeAttrRespPfx, payload)
	case topic == topicGwAttrResp:
		var h struct {
			ID int64 `json:"id"`
		}
		if json.Unmarshal(payload, &h) != nil || !c.pending.answer(&c.pending.gw, h.ID, payload) {
			c.log.Debug("unmatched gateway attribute response", "payload", string(payload))
		}
	case topic == topicGwDisconnect:
		var n struct {
			Device string `json:"device"`
			Reason int    `json:"reason"`
		}
		_ = json.Unmarshal(payload, &n)
		c.log.Warn("thingsboard closed a device session", "device", n.Device, "reason", n.Reason)
		if n.Reason == reasonRateLimitedTB && n.Device != "" {
			c.slowDown(n.Device)
		}
	case topic == topicGwAttributes:
		c.enqueueOn(c.attrJobs, topic, func(ctx context.Context) { c.gatewayAttributes(ctx, payload) })
	case topic == topicGwRPC:
		c.enqueue(topic, func(ctx context.Context) { c.gatewayRPC(ctx, payload) })
	case topic == topicMeAttributes:
		c.enqueue(topic, func(ctx context.Context) {
			vals, deleted, err := decodeUpdate(payload)
			if err != nil {
				c.dropped("own attribute update is not a JSON object", topic, payload)
				return
			}
			c.down.OnAttributeUpdate(ctx, "", vals, deleted)
		})
	case strings.HasPrefix(topic, topicMeRPCReqPfx):
		id, err := strconv.ParseInt(topic[len(topicMeRPCReqPfx):], 10, 64)
		if err != nil {
			c.dropped("rpc request id is not a number", topic, payload)
			return
		}
		c.enqueue(topic, func(ctx context.Context) { c.ownRPC(ctx, id, payload) })
	default:
		c.log.Debug("ignoring message on unexpected topic", "topic", topic)
	}
}

func (c *Client) answerByTopic(m *map[int64]chan json.RawMessage, topic, prefix string, payload json.RawMessage) {
	id, err := strconv.ParseInt(topic[len(prefix):], 10, 64)
	if err != nil || !c.pending.answer(m, id, payload) {
		c.log.Debug("unmatched answer", "topic", topic)
	}
}

func (c *Client) enqueue(topic string, job func(context.Context)) { c.enqueueOn(c.jobs, topic, job) }

func (c *Client) enqueueOn(jobs chan<- func(context.Context), topic string, job func(context.Context)) {
	select {
	case jobs <- job:
	default:
		c.stats.downlinkDropped.Add(1)
		c.log.Warn("downlink queue full; dropping a message from thingsboard", "topic", topic)
	}
}

func (c *Client) dropped(why, topic string, payload []byte) {
	c.stats.downlinkDropped.Add(1)
	c.log.Warn("dropping a message from thingsboard: "+why, "topic", topic, "payload", string(payload))
}

func (c *Client) worker(ctx context.Context, jobs <-chan func(context.Context)) {
	for {
		select {
		case <-ctx.Done():
			return
		case job := <-jobs:
			job(ctx)
		}
	}
}

func (c *Client) gatewayAttributes(ctx context.Context, payload []byte) {
	var m struct {
		Device string          `json:"device"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(payload, &m); err != nil || m.Device == "" {
		c.dropped("gateway attribute update without device", topicGwAttributes, payload)
		return
	}
	vals, deleted, err := decodeUpdate(m.Data)
	if err != nil {
		c.dropped("gateway attribute update data is not an object", topicGwAttributes, payload)
		return
	}
	c.down.OnAttributeUpdate(ctx, m.Device, vals, deleted)
}

func (c *Client) gatewayRPC(ctx context.Context, payload []byte) {
	var m struct {
		Device string `json:"device"`
		Data   struct {
			ID     int64           `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		} `json:"data"`
	}
	if err := json.Unmarshal(payload, &m); err != nil || m.Device == "" {
		c.dropped("gateway rpc without device", topicGwRPC, payload)
		return
	}
	reply := c.down.OnRPC(ctx, tbgateway.RPCRequest{Device: m.Device, ID: m.Data.ID, Method: m.Data.Method, Params: m.Data.Params})
	b := append([]byte(nil), `{"device":`...)
	b = appendString(b, m.Device)
	b = append(b, `,"id":`...)
	b = strconv.AppendInt(b, m.Data.ID, 10)
	b = append(b, `,"data":`...)
	b = append(b, validReply(reply)...)
	b = append(b, '}')
	c.reply(ctx, topicGwRPC, b)
}

func (c *Client) ownRPC(ctx context.Context, id int64, payload []byte) {
	var m struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(payload, &m); err != nil {
		c.dropped("rpc request is not a JSON object", topicMeRPCReqPfx+strconv.FormatInt(id, 10), payload)
		return
	}
	reply := c.down.OnRPC(ctx, tbgateway.RPCRequest{ID: id, Method: m.Method, Params: m.Params})
	c.reply(ctx, topicMeRPCRespPfx+strconv.FormatInt(id, 10), validReply(reply))
}

func validReply(r json.RawMessage) []byte {
	if len(bytes.TrimSpace(r)) == 0 || !json.Valid(r) {
		return []byte(`{"error":"no valid reply"}`)
	}
	return r
}

func (c *Client) reply(ctx context.Context, topic string, payload []byte) {
	l := c.current()
	if l == nil {
		c.stats.errors.Add(1)
		c.log.Warn("rpc reply lost: not connected", "topic", topic)
		return
	}
	if err := c.publishOn(ctx, l, topic, payload); err != nil {
		c.stats.errors.Add(1)
		c.log.Warn("rpc reply failed", "topic", topic, "error", err)
	}
}

// decodeUpdate splits an attribute update object into values and the "deleted" list.
func decodeUpdate(raw []byte) (map[string]any, []string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, err
	}
	var deleted []string
	if d, ok := m["deleted"]; ok {
		if json.Unmarshal(d, &deleted) == nil {
			delete(m, "deleted")
		}
	}
	return decodeValues(m), deleted, nil
}

// decodeValues turns JSON values into the record value types: string, bool, int64 (integer literals), float64,
// nil, and tbgateway.RawJSON for objects and arrays.
func decodeValues(m map[string]json.RawMessage) map[string]any {
	out := make(map[string]any, len(m))
	for k, raw := range m {
		out[k] = decodeValue(raw)
	}
	return out
}

func decodeValue(raw json.RawMessage) any {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	case 't':
		return true
	case 'f':
		return false
	case 'n':
		return nil
	case '{', '[':
		return tbgateway.RawJSON(bytes.Clone(raw))
	}
	if !bytes.ContainsAny(raw, ".eE") {
		if i, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return i
		}
	}
	f, _ := strconv.ParseFloat(string(raw), 64)
	return f
}
