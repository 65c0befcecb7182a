package opcua

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gopcua/opcua/ua"
	tbgateway "github.com/tbgateway/tbgateway"
)

// resolveDevices resolves every mapping's device nodes (a browse path may name several: each is a device) and
// each device's name, profile and key nodes on the session. A mapping, device or key that does not resolve is
// logged and left out; the call fails only when no device resolved at all.
func (c *Connector) resolveDevices(ctx context.Context, s *session) error {
	var errs []error
	for _, m := range c.mappings {
		nodes, err := c.deviceNodes(ctx, s, m)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.mappingFailed(m, err)
			errs = append(errs, fmt.Errorf("mapping[%d]: %w", m.idx, err))
			s.incomplete = true
			continue
		}
		c.mappingResolved(m)
		for _, node := range nodes {
			d, err := c.resolveDevice(ctx, s, m, node)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				c.deviceNodeFailed(m, node, err)
				errs = append(errs, fmt.Errorf("mapping[%d]: node %s: %w", m.idx, node, err))
				s.incomplete = true
				continue
			}
			c.deviceNodeResolved(m, node)
			if prev, dup := s.devices[d.name]; dup {
				c.log.Warn("device name already used by another node; this node is ignored", "device", d.name,
					"mapping", m.idx, "node", node, "used_by", prev.node)
				continue
			}
			s.devices[d.name] = d
			s.order = append(s.order, d)
		}
	}
	if len(s.order) == 0 && len(c.mappings) > 0 {
		return fmt.Errorf("no device resolved: %w", errors.Join(errs...))
	}
	return nil
}

// deviceNodes returns the nodes a mapping's deviceNodePattern names and records them in s.scanned.
func (c *Connector) deviceNodes(ctx context.Context, s *session, m *mapping) ([]*ua.NodeID, error) {
	rctx, cancel := context.WithTimeout(ctx, ms(c.cfg.Server.TimeoutInMillis)*4)
	defer cancel()
	nodes, err := s.res.resolveAll(rctx, m.device, nil)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		seen[n.String()] = true
	}
	s.scanned[m.idx] = seen
	return nodes, nil
}

// resolveDevice makes the device of one of a mapping's device nodes: its name and profile rendered relative to
// that node, and its keys' nodes.
func (c *Connector) resolveDevice(ctx context.Context, s *session, m *mapping, node *ua.NodeID) (*device, error) {
	rctx, cancel := context.WithTimeout(ctx, ms(c.cfg.Server.TimeoutInMillis)*4)
	defer cancel()
	name, err := s.renderTemplate(rctx, m.name, node)
	if err != nil {
		return nil, fmt.Errorf("device name: %w", err)
	}
	if name == "" {
		return nil, fmt.Errorf("device name %q is empty", m.cfg.DeviceInfo.DeviceNameExpression)
	}
	profile, err := s.renderTemplate(rctx, m.profile, node)
	if err != nil {
		return nil, fmt.Errorf("device profile: %w", err)
	}
	d := &device{m: m, name: name, typ: profileOr(profile), node: node}
	for _, k := range m.keys {
		it := &item{dev: d, spec: k}
		if !k.isConst {
			if it.node, err = s.res.resolve(rctx, k.tmpl.Exprs()[0].Expr, node); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				c.keyFailed(name, k.key, k.tmpl.Exprs()[0].Expr, err)
				s.incomplete = true
				continue
			}
		}
		d.items = append(d.items, it)
	}
	return d, nil
}

// newDeviceNode browses every browse-path deviceNodePattern again (bypassing the browse cache) and returns a
// device node the session does not have, or nil. The Python connector re-scans every scanPeriodInMillis and adds
// the devices it finds; here the session is then rebuilt (errRescan).
func (c *Connector) newDeviceNode(ctx context.Context, s *session) *ua.NodeID {
	c.cache.clear()
	for _, m := range c.mappings {
		if m.device.id != nil {
			continue // a node id names one node, resolved or not (s.incomplete)
		}
		rctx, cancel := context.WithTimeout(ctx, ms(c.cfg.Server.TimeoutInMillis)*4)
		nodes, err := s.res.resolveAll(rctx, m.device, nil)
		cancel()
		if err != nil {
			c.log.Debug("re-scan of device nodes", "mapping", m.idx, "err", err)
			continue
		}
		for _, n := range nodes {
			if !s.scanned[m.idx][n.String()] {
				return n
			}
		}
	}
	return nil
}

// renderTemplate reads the nodes a template names (relative ones under base) and joins them with its text.
func (s *session) renderTemplate(ctx context.Context, t nodeTemplate, base *ua.NodeID) (string, error) {
	if !t.HasExpr() {
		return t.Text, nil
	}
	refs := t.Exprs()
	nodes := make([]*ua.NodeID, len(refs))
	for i, ref := range refs {
		n, err := s.res.resolve(ctx, ref.Expr, base)
		if err != nil {
			return "", err
		}
		nodes[i] = n
	}
	dvs, err := readAttr(ctx, s.c, nodes, ua.AttributeIDValue, s.readBatch)
	if err != nil {
		return "", err
	}
	vals := make([]string, len(dvs))
	for i, dv := range dvs {
		v, _ := dataValueOf(dv)
		vals[i] = textValue(v)
	}
	return fill(t, vals), nil
}

// recordBuilder collects one device's values from one notification or poll into records. The runtime stamps all
// gateway-timed (TS 0) entries of a record with one timestamp, so a key notified twice in one message (queued
// changes) opens a new record: each reading then gets its own, later timestamp and none overwrites another.
type recordBuilder struct {
	frames []frame
}

type frame struct {
	attrs map[string]any
	tel   []tbgateway.Telemetry
}

// add puts a key's value into the attributes or into a telemetry entry of timestamp ts (0: gateway-stamped):
// the n-th reading of a key in this batch goes to the n-th record.
func (b *recordBuilder) add(it *item, v any, ts int64) {
	key := it.spec.key
	for i := 0; ; i++ {
		if i == len(b.frames) {
			b.frames = append(b.frames, frame{})
		}
		f := &b.frames[i]
		if it.spec.attr {
			if _, dup := f.attrs[key]; dup {
				continue
			}
			if f.attrs == nil {
				f.attrs = map[string]any{}
			}
			f.attrs[key] = v
			return
		}
		j := slices.IndexFunc(f.tel, func(t tbgateway.Telemetry) bool { return t.TS == ts })
		if j < 0 {
			f.tel = append(f.tel, tbgateway.Telemetry{TS: ts, Values: map[string]any{key: v}})
			return
		}
		if _, dup := f.tel[j].Values[key]; !dup || ts != 0 {
			// A repeated reading at the same device time is the same point: the later wins.
			f.tel[j].Values[key] = v
			return
		}
	}
}

// records returns the device's records, oldest readings first.
func (b *recordBuilder) records(connector string, d *device) []tbgateway.Record {
	out := make([]tbgateway.Record, 0, len(b.frames))
	for _, f := range b.frames {
		if len(f.attrs) == 0 && len(f.tel) == 0 {
			continue
		}
		out = append(out, tbgateway.Record{Kind: tbgateway.KindData, Device: d.name, DeviceType: d.typ, Connector: connector,
			Attributes: f.attrs, Telemetry: f.tel})
	}
	return out
}

// itemValue renders a notified or read value for an item: bare ${node} keeps the value's type, text around
// the reference makes a string.
func itemValue(it *item, v any) any {
	if it.spec.tmpl.Single() {
		return v
	}
	return fill(it.spec.tmpl, []string{textValue(v)})
}
