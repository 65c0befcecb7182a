package ble

import (
	"context"
	"sync/atomic"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/internal/sendretry"
)

// notifyBuffer bounds the notifications of one device waiting while its records are being sent.
const notifyBuffer = 1024

// closeTimeout bounds the calls made while a session ends (unsubscribe, disconnect).
const closeTimeout = 5 * time.Second

func connectFaultKey(d *device) string           { return "connect\x00" + d.name }
func charFaultKey(d *device, uuid string) string { return "char\x00" + d.name + "\x00" + uuid }
func keyFaultKey(d *device, key string) string   { return "key\x00" + d.name + "\x00" + key }

// deviceLoop keeps the device connected until ctx ends: it connects through the adapter's queue, runs a
// session until the device goes away, and tries again after the device's back-off.
func (c *Connector) deviceLoop(ctx context.Context, r radio, q *connectQueue, d *device, sink tbgateway.Sink) {
	b := backoff.New(d.policy)
	for ctx.Err() == nil {
		var l link
		err := q.do(ctx, func() error {
			cctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
			defer cancel()
			var err error
			l, err = r.connect(cctx, d.mac)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.faults.Fail(connectFaultKey(d), err, "device", d.name, "mac", d.mac)
			if b.Wait(ctx) != nil {
				return
			}
			continue
		}
		c.faults.OK(connectFaultKey(d))
		b.Begin()
		c.log.Info("connected", "device", d.name, "mac", d.mac)
		c.session(ctx, d, l, sink)
		disconnectQuietly(l, closeTimeout)
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("device went away, reconnecting", "device", d.name, "mac", d.mac)
		if b.Wait(ctx) != nil {
			return
		}
	}
}

// notification is one notified value.
type notification struct {
	uuid  string
	value []byte
}

// session serves one connection: notifications as they come, reads every pollPeriod, until the device goes
// away or ctx ends.
func (c *Connector) session(ctx context.Context, d *device, l link, sink tbgateway.Sink) {
	d.setLink(l)
	defer d.setLink(nil)
	c.writePending(ctx, d, l)
	if d.cfg.ShowMap {
		c.log.Info(gattMap(ctx, d, l))
	}
	events := make(chan notification, notifyBuffer)
	var dropped atomic.Int64
	stops := map[string]func(context.Context) error{}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		for _, stop := range stops {
			_ = stop(sctx)
		}
	}()
	subscribe := func() {
		for _, uuid := range d.notifies {
			if stops[uuid] != nil {
				continue
			}
			stop, err := l.subscribe(ctx, uuid, func(v []byte) {
				select {
				case events <- notification{uuid, append([]byte(nil), v...)}:
				default:
					dropped.Add(1)
				}
			})
			if err != nil {
				if ctx.Err() == nil {
					c.faults.Fail(charFaultKey(d, uuid), err, "device", d.name, "characteristic", uuid, "method", "notify")
				}
				continue
			}
			c.faults.OK(charFaultKey(d, uuid))
			stops[uuid] = stop
		}
	}
	subscribe()
	var tick <-chan time.Time
	if len(d.reads) > 0 || len(stops) < len(d.notifies) {
		t := time.NewTicker(d.cfg.PollPeriod)
		defer t.Stop()
		tick = t.C
		if !c.poll(ctx, d, l, sink) {
			return
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.gone():
			return
		case n := <-events:
			var b batch
			items := d.itemsFor(n.uuid, MethodNotify)
			c.converted(d, items, d.convert(&b, items, n.uuid, n.value))
			c.send(ctx, sink, b.records(d, c.name))
		case <-tick:
			if len(stops) < len(d.notifies) {
				subscribe()
			}
			if !c.poll(ctx, d, l, sink) {
				return
			}
		}
		if n := dropped.Swap(0); n > 0 {
			c.log.Warn("notifications dropped: the gateway could not store them as fast as they came",
				"device", d.name, "count", n)
		}
	}
}

// poll reads every read characteristic of the device once and sends what converted; it returns false when the
// device went away.
func (c *Connector) poll(ctx context.Context, d *device, l link, sink tbgateway.Sink) bool {
	var b batch
	for _, uuid := range d.reads {
		v, err := l.read(ctx, uuid)
		if err != nil {
			if ctx.Err() != nil || isGone(l) {
				return false
			}
			c.faults.Fail(charFaultKey(d, uuid), err, "device", d.name, "characteristic", uuid, "method", "read")
			continue
		}
		c.faults.OK(charFaultKey(d, uuid))
		items := d.itemsFor(uuid, MethodRead)
		c.converted(d, items, d.convert(&b, items, uuid, v))
	}
	c.send(ctx, sink, b.records(d, c.name))
	return true
}

func isGone(l link) bool {
	select {
	case <-l.gone():
		return true
	default:
		return false
	}
}

// converted records the conversion of items: the failed ones as faults, the others as working.
func (c *Connector) converted(d *device, items []*item, faults []itemFault) {
	for _, f := range faults {
		c.faults.Fail(keyFaultKey(d, f.it.key), f.err, "device", d.name, "key", f.it.key)
	}
	if c.faults.Stats().Active == 0 {
		return
	}
next:
	for _, it := range items {
		for _, f := range faults {
			if f.it == it {
				continue next
			}
		}
		c.faults.OK(keyFaultKey(d, it.key))
	}
}

// send hands recs to the gateway, retrying with back-off while storage refuses them (the same records, so
// nothing read is lost), until stored or ctx ends. An invalid record is logged and dropped.
func (c *Connector) send(ctx context.Context, sink tbgateway.Sink, recs []tbgateway.Record) {
	if len(recs) == 0 {
		return
	}
	s := sendretry.Sender{Policy: backoff.Exponential(100*time.Millisecond, 2, 5*time.Second), Refused: func(err error, n int) {
		if n == 1 {
			c.log.Warn("storage refused records, retrying", "device", recs[0].Device, "err", err)
		}
	}}
	if err := s.Send(ctx, sink, recs...); err != nil && ctx.Err() == nil {
		c.log.Error("records refused", "device", recs[0].Device, "err", err)
	}
}
