package tbemu

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// rpcCall is a server-side RPC waiting for its device's reply.
type rpcCall struct {
	id     int
	method string
	params json.RawMessage
	oneWay bool
	sent   bool
	reply  chan json.RawMessage // buffered 1; closed without value for one-way
}

// RPC sends a server-side RPC to device and, unless oneWay, waits for the
// reply (as ThingsBoard does). Ids are per device from 0. The call is
// pushed at once to a session subscribed to RPC (a gateway sub-session always
// is), otherwise it stays pending and is resent whenever such a session
// appears. After timeout (0 = Options.RPCTimeout) it fails with ErrRPCTimeout
// if it was sent, or ErrNoActiveConnection if it never was. A one-way call
// returns once it was handed to a session.
func (s *Server) RPC(ctx context.Context, device, method string, params json.RawMessage, oneWay bool, timeout time.Duration) (json.RawMessage, error) {
	if timeout <= 0 {
		timeout = s.opts.RPCTimeout
	}
	if len(params) == 0 {
		params = json.RawMessage("{}")
	} else if !json.Valid(params) {
		return nil, fmt.Errorf("rpc %s to %q: params are not valid json", method, device)
	}
	s.mu.Lock()
	d := s.devices[device]
	if d == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("rpc %s to %q: %w", method, device, ErrNoDevice)
	}
	c := &rpcCall{id: d.rpcSeq, method: method, params: params, oneWay: oneWay, reply: make(chan json.RawMessage, 1)}
	d.rpcSeq++
	d.pending = append(d.pending, c)
	o, ok := s.rpcOutbound(d, c)
	if ok {
		s.markSent(d, c)
	}
	s.mu.Unlock()
	if ok {
		s.write(o)
	}
	s.notify()

	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r, ok := <-c.reply:
		if !ok {
			return nil, nil // one-way, delivered
		}
		return r, nil
	case <-t.C:
	case <-ctx.Done():
	case <-s.done:
	}
	s.mu.Lock()
	d.pending = slices.DeleteFunc(d.pending, func(x *rpcCall) bool { return x == c })
	sent := c.sent
	s.mu.Unlock()
	select { // a reply may have raced the timeout
	case r, ok := <-c.reply:
		if !ok {
			return nil, nil
		}
		return r, nil
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rpc %s to %q: %w", method, device, err)
	}
	if sent {
		return nil, fmt.Errorf("rpc %s to %q (id %d): %w", method, device, c.id, ErrRPCTimeout)
	}
	return nil, fmt.Errorf("rpc %s to %q (id %d): %w", method, device, c.id, ErrNoActiveConnection)
}

// rpcOutbound builds the publish carrying c to d's session, if d has one
// that takes RPC. Called with s.mu held.
func (s *Server) rpcOutbound(d *device, c *rpcCall) (outbound, bool) {
	ss := d.owner
	if ss == nil || ss.closed {
		return outbound{}, false
	}
	if ss.dev != d { // gateway sub-session: always subscribed
		body := fmt.Appendf(nil, `{"device":%s,"data":{"id":%d,"method":%s,"params":%s}}`,
			appendQuoted(nil, d.spec.Name), c.id, appendQuoted(nil, c.method), c.params)
		return outbound{ss: ss, topic: topicGwRPC, payload: body, qos: ss.qosFor(topicGwRPC)}, true
	}
	body := fmt.Appendf(nil, `{"method":%s,"params":%s}`, appendQuoted(nil, c.method), c.params)
	id := strconv.Itoa(c.id)
	switch {
	case ss.subscribed(topicRPCRequestSub):
		return outbound{ss: ss, topic: topicRPCRequestPfx + id, payload: body, qos: ss.qosFor(topicRPCRequestSub)}, true
	case ss.subscribed(topicRPCRequestSubV2):
		return outbound{ss: ss, topic: topicRPCRequestV2 + id, payload: body, qos: ss.qosFor(topicRPCRequestSubV2)}, true
	}
	return outbound{}, false
}

// markSent records that c went out; a one-way call is then complete.
// Called with s.mu held.
func (s *Server) markSent(d *device, c *rpcCall) {
	c.sent = true
	if c.oneWay {
		d.pending = slices.DeleteFunc(d.pending, func(x *rpcCall) bool { return x == c })
		close(c.reply)
	}
}

// completeRPC hands a reply to the pending call with id; a stale id is
// ignored. Called with s.mu held.
func (s *Server) completeRPC(d *device, id int, data json.RawMessage) {
	for i, c := range d.pending {
		if c.id == id && !c.oneWay {
			d.pending = slices.Delete(d.pending, i, i+1)
			c.reply <- data
			return
		}
	}
	s.log.Debug("rpc reply with unknown id ignored", "device", d.spec.Name, "id", id)
}

// resendPending pushes all pending RPCs of the session's device after it
// subscribed to RPC (BURST strategy: duplicates are possible).
func (s *Server) resendPending(cl *mqtt.Client) {
	var out []outbound
	s.mu.Lock()
	if ss := s.sessions[cl]; ss != nil && ss.dev != nil && ss.dev.owner == ss {
		d := ss.dev
		for _, c := range slices.Clone(d.pending) {
			if o, ok := s.rpcOutbound(d, c); ok {
				out = append(out, o)
				s.markSent(d, c)
			}
		}
	}
	s.mu.Unlock()
	for _, o := range out {
		s.write(o)
	}
}

// ClientRPCHandler answers a client-side RPC (as ThingsBoard does) from device; ok
// false leaves it unanswered, so the device gets {"error":"timeout"} after
// Options.ClientRPCTimeout.
type ClientRPCHandler func(device, method string, params json.RawMessage) (result json.RawMessage, ok bool)

// SetClientRPCHandler installs h for client-side RPCs other than
// getSessionLimits (nil removes it).
func (s *Server) SetClientRPCHandler(h ClientRPCHandler) {
	s.mu.Lock()
	s.clientRPC = h
	s.mu.Unlock()
}

// sessionLimits is the getSessionLimits reply (as ThingsBoard does). Called with s.mu held.
func (s *Server) sessionLimits(ss *session) []byte {
	type limits struct {
		Messages            string `json:"messages"`
		TelemetryMessages   string `json:"telemetryMessages"`
		TelemetryDataPoints string `json:"telemetryDataPoints"`
	}
	r := map[string]any{
		"maxPayloadSize":      s.opts.MaxPayloadSize,
		"maxInflightMessages": 100,
		"rateLimits":          limits{},
	}
	if ss.gateway {
		r["rateLimits"] = limits(s.gwLimits)
		r["gatewayRateLimits"] = limits(s.devLimits)
	}
	return marshal(r)
}
