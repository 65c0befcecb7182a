package ble

import (
	"context"
	"fmt"
	"sync"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
)

// device is a configured device compiled for running: its items grouped by where their data comes from.
type device struct {
	cfg      *DeviceConfig
	name     string
	mac      string
	byUUID   map[string][]*item // characteristic items by UUID
	reads    []string           // characteristics read every poll, in config order
	notifies []string           // characteristics subscribed to
	adverts  []*item            // advertisement items
	custom   tbgateway.Converter
	// noUplink: the custom converter is not compiled in (warned at check), so nothing is converted.
	noUplink  bool
	updates   map[string][]string // shared attribute -> characteristics written
	rpc       map[string]*RPCConfig
	policy    backoff.Policy
	needsLink bool // anything needs a connection (not only advertisement data)

	mu      sync.Mutex
	lnk     link           // the live connection, nil while disconnected
	pending map[string]any // attribute updates to write once connected (attributeUpdates keys only)
}

// item is one telemetry or attribute key.
type item struct {
	key    string
	attr   bool
	method string
	uuid   string
	expr   *Expr
	hex    bool
}

func compileDevice(dc *DeviceConfig) (*device, error) {
	d := &device{cfg: dc, name: dc.Name, mac: dc.MAC, byUUID: map[string][]*item{},
		updates: map[string][]string{}, rpc: map[string]*RPCConfig{}}
	if dc.Expression != nil {
		d.custom = dc.Expression
	} else if dc.Extension != "" {
		f, ok := tbgateway.LookupConverter(dc.Extension)
		if !ok {
			d.noUplink = true
		} else {
			conv, err := f(dc.Raw)
			if err != nil {
				return nil, fmt.Errorf("extension %q: %w", dc.Extension, err)
			}
			d.custom = conv
		}
	}
	for _, sec := range []struct {
		keys []KeyConfig
		attr bool
	}{{dc.Telemetry, false}, {dc.Attributes, true}} {
		for i := range sec.keys {
			k := &sec.keys[i]
			ex, err := ParseExpr(k.ValueExpression)
			if err != nil {
				return nil, fmt.Errorf("%s.valueExpression: %w", k.path, err)
			}
			it := &item{key: k.Key, attr: sec.attr, method: k.Method, uuid: k.UUID, expr: ex}
			if k.Source == SourceAdvertisement {
				it.hex = dc.Type != "bytes"
				d.adverts = append(d.adverts, it)
				continue
			}
			it.hex = dc.Type == "hex"
			if len(d.byUUID[k.UUID]) == 0 || !hasMethod(d.byUUID[k.UUID], k.Method) {
				if k.Method == MethodNotify {
					d.notifies = append(d.notifies, k.UUID)
				} else {
					d.reads = append(d.reads, k.UUID)
				}
			}
			d.byUUID[k.UUID] = append(d.byUUID[k.UUID], it)
		}
	}
	for _, u := range dc.AttributeUpdates {
		d.updates[u.Attribute] = append(d.updates[u.Attribute], u.UUID)
	}
	for i := range dc.RPC {
		d.rpc[dc.RPC[i].Method] = &dc.RPC[i]
	}
	every := dc.ConnectRetryEvery
	if every <= 0 {
		every = time.Second // the Python connector pauses a second between attempts
	}
	d.policy = backoff.Attempts(every, dc.ConnectRetry, dc.WaitAfterConnectRetries)
	d.needsLink = len(d.byUUID) > 0 || dc.ShowMap || len(dc.AttributeUpdates) > 0 || len(dc.RPC) > 0
	return d, nil
}

// itemsFor returns the characteristic's items of one method (BlueZ announces a value read as a notification too,
// which must not feed the notify items).
func (d *device) itemsFor(uuid, method string) []*item {
	var out []*item
	for _, it := range d.byUUID[uuid] {
		if it.method == method {
			out = append(out, it)
		}
	}
	return out
}

func hasMethod(items []*item, method string) bool {
	for _, it := range items {
		if it.method == method {
			return true
		}
	}
	return false
}

func (d *device) link() link {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lnk
}

// keepPending keeps the newest value of every attributeUpdates key in vals; it reports whether any was kept.
func (d *device) keepPending(vals map[string]any) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	kept := false
	for k, v := range vals {
		if len(d.updates[k]) == 0 {
			continue
		}
		if d.pending == nil {
			d.pending = map[string]any{}
		}
		d.pending[k], kept = v, true
	}
	return kept
}

func (d *device) takePending() map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.pending
	d.pending = nil
	return p
}

func (d *device) setLink(l link) {
	d.mu.Lock()
	d.lnk = l
	d.mu.Unlock()
}

// batch gathers the values of one poll, notification or advertisement into the records sent for the device.
type batch struct {
	attrs map[string]any
	tel   map[string]any
	recs  []tbgateway.Record // from a custom converter
}

// itemFault is an item whose value could not be converted.
type itemFault struct {
	it  *item
	err error
}

// convert converts data from one characteristic (uuid) or from advertisement data (uuid "advertisement") for the
// items given into b; it returns the items that failed.
func (d *device) convert(b *batch, items []*item, uuid string, data []byte) []itemFault {
	if d.noUplink {
		return nil
	}
	if d.custom != nil {
		recs, err := d.custom.Convert(d.mac+"/"+uuid, data)
		if err != nil {
			return []itemFault{{it: &item{key: uuid}, err: fmt.Errorf("extension %s: %w", d.cfg.Extension, err)}}
		}
		for i := range recs {
			if recs[i].Device == "" {
				recs[i].Device = d.name
			}
			if recs[i].DeviceType == "" && recs[i].Device == d.name {
				recs[i].DeviceType = d.cfg.DeviceType
			}
		}
		b.recs = append(b.recs, recs...)
		return nil
	}
	var faults []itemFault
	for _, it := range items {
		var v any
		var err error
		if it.hex {
			v, err = it.expr.Hex(data)
		} else {
			v, err = it.expr.Bytes(data)
		}
		if err != nil {
			faults = append(faults, itemFault{it, fmt.Errorf("valueExpression %q: %w", it.expr, err)})
			continue
		}
		b.put(it, v)
	}
	return faults
}

func (b *batch) put(it *item, v any) {
	m := &b.tel
	if it.attr {
		m = &b.attrs
	}
	if *m == nil {
		*m = map[string]any{}
	}
	(*m)[it.key] = v
}

// records returns what the batch holds as records of device d (nil when it holds nothing).
func (b *batch) records(d *device, connector string) []tbgateway.Record {
	out := b.recs
	if len(b.attrs) > 0 || len(b.tel) > 0 {
		r := tbgateway.Record{Device: d.name, DeviceType: d.cfg.DeviceType, Connector: connector, Attributes: b.attrs}
		if len(b.tel) > 0 {
			r.Telemetry = []tbgateway.Telemetry{{Values: b.tel}}
		}
		out = append([]tbgateway.Record{r}, out...)
	}
	for i := range out {
		out[i].Connector = connector
	}
	return out
}

// advertisementData picks the data an advertisement item reads: the service data of its UUID, else (no UUID)
// the manufacturer data of the lowest company id (Python takes the first the library lists).
func advertisementData(a advert, uuid string) ([]byte, bool) {
	if uuid != "" {
		v, ok := a.service[uuid]
		return v, ok
	}
	found := false
	var best uint16
	for id := range a.manufacturer {
		if !found || id < best {
			best, found = id, true
		}
	}
	return a.manufacturer[best], found
}

// disconnectQuietly ends a connection with a bounded wait; errors do not matter then.
func disconnectQuietly(l link, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = l.disconnect(ctx)
}
