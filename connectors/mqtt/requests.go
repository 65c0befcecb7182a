package mqtt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// decodePayload parses a request's payload as JSON; anything else (empty, text) gives a nil body, so only
// topic and constant expressions can be evaluated.
func decodePayload(b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	return v
}

// deviceRequest turns a connect or disconnect request into its record.
func (c *Connector) deviceRequest(r *deviceRequest, m message, kind tbgateway.Kind) (tbgateway.Record, bool) {
	body := decodePayload(m.payload)
	name, missing, ok := r.name.eval(m.topic, body)
	if !ok || name == "" {
		c.payloadFailed(kind.String()+" request", "", m.topic, fmt.Errorf("device name missing (%v)", missing))
		return tbgateway.Record{}, false
	}
	c.payloadOK(kind.String()+" request", "", m.topic)
	rec := tbgateway.Record{Kind: kind, Device: name}
	if typ, _, ok := r.profile.eval(m.topic, body); ok && typ != "" {
		rec.DeviceType = typ
	}
	c.log.Info(kind.String()+" request", "device", name, "type", rec.DeviceType, "topic", m.topic)
	return rec, true
}

// attributeRequestTimeout bounds one attribute request to ThingsBoard and the reply's publish.
const attributeRequestTimeout = 30 * time.Second

// attributeRequest is a parsed attribute request: which device asks for which keys.
type attributeRequest struct {
	device string
	keys   []string
}

// parseAttributeRequest evaluates an attribute request's expressions on a message. Attribute names whose
// expressions find nothing are skipped; none at all is an error.
func parseAttributeRequest(r *attrRequest, m message) (attributeRequest, string, bool) {
	body := decodePayload(m.payload)
	name, _, ok := r.name.eval(m.topic, body)
	if !ok || name == "" {
		return attributeRequest{}, "device name missing from attribute request", false
	}
	req := attributeRequest{device: name}
	if r.attrNameRE != nil {
		if k, ok := search(r.attrNameRE, m.topic); ok && k != "" {
			req.keys = append(req.keys, k)
		}
	} else {
		for _, part := range r.attrNames.Exprs() {
			if v, ok := part.Expr.get(body); ok {
				if k := strings.TrimSpace(text(v)); k != "" {
					req.keys = append(req.keys, k)
				}
			}
		}
		if !r.attrNames.HasExpr() {
			for _, k := range strings.Split(r.attrNames.Text, ",") {
				if k = strings.TrimSpace(k); k != "" {
					req.keys = append(req.keys, k)
				}
			}
		}
	}
	if len(req.keys) == 0 {
		return req, "attribute name missing from attribute request", false
	}
	return req, "", true
}

// attributeReply renders the publish that answers an attribute request: one key gives the rule's
// topicExpression and valueExpression with ${deviceName}, ${attributeKey} and ${attributeValue}; several keys
// give a JSON object of the values found, in request order, as the Python gateway publishes (the topic's
// ${attributeKey} is then the keys joined by commas).
func attributeReply(r *attrRequest, req attributeRequest, values map[string]any) (topic string, payload []byte) {
	vars := func(k string, v any) func(string) (string, bool) {
		return func(name string) (string, bool) {
			switch name {
			case "deviceName":
				return req.device, true
			case "attributeKey":
				return k, true
			case "attributeValue":
				return text(v), true
			}
			return "", false
		}
	}
	if len(req.keys) == 1 {
		k := req.keys[0]
		v := values[k]
		return render(r.topic, vars(k, v)), []byte(render(r.value, vars(k, v)))
	}
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for _, k := range req.keys {
		v, ok := values[k]
		if !ok {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		if vb, err := json.Marshal(v); err == nil {
			b.Write(vb)
		} else {
			b.WriteString("null")
		}
	}
	b.WriteByte('}')
	return render(r.topic, vars(strings.Join(req.keys, ","), nil)), b.Bytes()
}

// startAttributeRequest asks ThingsBoard for the requested attributes in the background (bounded by
// maxRequestWorkers) and publishes the reply.
func (c *Connector) startAttributeRequest(ctx context.Context, sink tbgateway.Sink, r *attrRequest, m message) {
	req, reason, ok := parseAttributeRequest(r, m)
	if !ok {
		c.payloadFailed("attribute request", "", m.topic, errors.New(reason))
		return
	}
	c.payloadOK("attribute request", "", m.topic)
	select {
	case c.reqSem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	c.reqWG.Go(func() {
		defer func() { <-c.reqSem }()
		rctx, cancel := context.WithTimeout(ctx, attributeRequestTimeout)
		defer cancel()
		values, err := sink.RequestAttributes(rctx, req.device, r.scopeIsClient, req.keys)
		if err != nil {
			c.log.Warn("attribute request failed", "device", req.device, "keys", req.keys, "err", err)
			return
		}
		if len(values) == 0 {
			c.log.Info("attribute request: ThingsBoard has none of the keys", "device", req.device, "keys", req.keys)
			return
		}
		topic, payload := attributeReply(r, req, values)
		if err := c.publish(rctx, topic, r.cfg.QoS, r.cfg.Retain, payload); err != nil {
			c.log.Warn("attribute request: cannot publish the reply", "device", req.device, "err", err)
		}
	})
}
