package uplink

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/tbgateway/tbgateway"
)

// devQueue holds a device's records taken from the storage but not yet packed (its rate limit is reached).
type devQueue struct {
	name    string
	entries []tbgateway.Entry
	until   time.Time
}

// deliver drains the storage over l until the link ends. It runs three parts: a fetcher (storage.Next), the
// dispatcher here (per-device queues, rate limits, packing, publishing in order) and a completer (PUBACKs).
func (c *Client) deliver(l *link) {
	ctx := l.ctx
	batches := make(chan []tbgateway.Entry, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			es, err := c.store.Next(ctx, c.cfg.BatchMax)
			if err != nil {
				if ctx.Err() == nil {
					l.cancel(fmt.Errorf("storage next: %w", err))
				}
				return
			}
			select {
			case batches <- es:
			case <-ctx.Done():
				return
			}
		}
	})
	sem := make(chan struct{}, l.window)
	wg.Go(func() { c.completer(l, sem) })
	defer wg.Wait()

	pk := newPacker(l.packetLimit)
	queues := map[string]*devQueue{}
	var active []*devQueue
	pendingN := 0
	maxPending := 4 * c.cfg.BatchMax
	pk.onNewChunk = func(dev string, telemetry bool) {
		tm := 0
		if telemetry {
			tm = 1
		}
		c.mu.Lock()
		c.deviceRatesLocked(dev, time.Now()).take(1, tm, 0)
		c.mu.Unlock()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var in chan []tbgateway.Entry
		if pendingN < maxPending {
			in = batches
		}
		select {
		case <-ctx.Done():
			return
		case es := <-in:
			for _, e := range es {
				q := queues[e.Record.Device]
				if q == nil {
					q = &devQueue{name: e.Record.Device}
					queues[e.Record.Device] = q
				}
				if len(q.entries) == 0 {
					active = append(active, q)
				}
				q.entries = append(q.entries, e)
				pendingN++
			}
		case <-timer.C:
		}
		next := c.pump(l, pk, &active, queues, &pendingN)
		if !c.send(l, pk, sem) {
			return
		}
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
	}
}

// pump packs every queued record its device's rate limit allows now, oldest first per device, and returns the
// earliest time a blocked device may go on (zero if none is blocked).
func (c *Client) pump(l *link, pk *packer, active *[]*devQueue, queues map[string]*devQueue, pendingN *int) time.Time {
	now := time.Now()
	var next time.Time
	keep := (*active)[:0]
	for _, q := range *active {
		for len(q.entries) > 0 && !now.Before(q.until) {
			e := &q.entries[0]
			if w := c.reserveRecord(pk, e, now); w > 0 {
				q.until = now.Add(w)
				break
			}
			c.mu.Lock()
			pk.maxDP = c.deviceRatesLocked(q.name, now).maxDatapoints()
			c.mu.Unlock()
			parts := pk.add(e)
			l.mu.Lock()
			if parts > 0 {
				l.recs[e.Seq] = &recState{parts: parts}
			}
			l.mu.Unlock()
			_, dead := pk.take0()
			if len(dead) > 0 {
				c.deadValues(e, dead)
			}
			if parts == 0 {
				c.ackSeqs(e.Seq)
			}
			q.entries[0] = tbgateway.Entry{}
			q.entries = q.entries[1:]
			*pendingN--
		}
		if len(q.entries) > 0 {
			keep = append(keep, q)
			if next.IsZero() || q.until.Before(next) {
				next = q.until
			}
		} else {
			q.entries = nil
			delete(queues, q.name)
		}
	}
	clear((*active)[len(keep):])
	*active = keep
	return next
}

// reserveRecord checks the device's limits for one record; it takes the datapoints (messages are charged as the
// packer opens them) and returns 0, or how long the device must wait.
func (c *Client) reserveRecord(pk *packer, e *tbgateway.Entry, now time.Time) time.Duration {
	r := &e.Record
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := c.deviceRatesLocked(r.Device, now)
	if rs == nil {
		return 0
	}
	if r.Kind != tbgateway.KindData {
		return rs.reserve(1, 0, 0, now)
	}
	dps := 0
	for _, t := range r.Telemetry {
		dps += len(t.Values)
	}
	tm := 0
	if dps > 0 && pk.tel.byDev[r.Device] == nil {
		tm = 1
	}
	msgs := tm
	if len(r.Attributes) > 0 && pk.attr.byDev[r.Device] == nil {
		msgs++
	}
	if w := max(rs.msgs.wait(msgs, now), rs.telMsgs.wait(tm, now), rs.telDP.wait(dps, now)); w > 0 {
		return w
	}
	rs.telDP.take(dps)
	return 0
}

// send flushes the packer and publishes its messages in order through the in-flight window. It returns false
// when the link ended.
func (c *Client) send(l *link, pk *packer, sem chan struct{}) bool {
	pk.flush()
	msgs, dead := pk.take()
	if len(dead) > 0 {
		c.log.Error("uplink: packer produced dead values outside a record", "count", len(dead))
	}
	for _, m := range msgs {
		select {
		case sem <- struct{}{}:
		case <-l.ctx.Done():
			return false
		}
		if c.encodeHook != nil {
			c.encodeHook(m)
		}
		l.mu.Lock()
		for _, s := range m.seqs {
			if r := l.recs[s]; r != nil {
				r.sent = true
			}
		}
		l.mu.Unlock()
		t := &tracked{msg: m, sentAt: time.Now()}
		l.ts.expect(t)
		_, err := l.cli.PublishWithOptions(l.ctx, &paho.Publish{Topic: m.topic, QoS: 1, Payload: m.payload},
			paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
		if err != nil {
			l.ts.expect(nil)
			l.cancel(fmt.Errorf("publish %s: %w", m.topic, err))
			return false
		}
		c.stats.messages.Add(1)
		c.stats.datapoints.Add(uint64(m.datapoints))
	}
	return true
}

// completer handles PUBACKs of tracked messages and the ack timeout.
func (c *Client) completer(l *link, sem chan struct{}) {
	tick := time.NewTicker(max(c.cfg.AckTimeout/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case ack := <-l.ts.acks:
			if c.complete(l, ack) {
				<-sem
			}
		case now := <-tick.C:
			if o := l.ts.oldest(); !o.IsZero() && now.Sub(o) > c.cfg.AckTimeout {
				c.stats.ackTimeouts.Add(1)
				l.cancel(fmt.Errorf("no PUBACK within %v", c.cfg.AckTimeout))
				return
			}
		}
	}
}

// complete settles one PUBACK; it reports whether it belonged to a tracked message.
func (c *Client) complete(l *link, ack packets.ControlPacket) bool {
	pa, ok := ack.Content.(*packets.Puback)
	if !ok {
		return false
	}
	t := l.ts.resolve(pa.PacketID)
	if t == nil {
		return false
	}
	m := t.msg
	switch code := pa.ReasonCode; {
	case code < 0x80:
		c.stats.acks.Add(1)
	case code == 0x96 || code == 0x97:
		// Rate limit or quota: retried. ThingsBoard closes the connection after this; closing it here too
		// keeps the device's order (everything after this message is rewound with it).
		c.stats.rateLimited.Add(1)
		c.slowDown(m.devices...)
		l.cancel(fmt.Errorf("thingsboard rate limit (0x%02x) for devices %v", code, m.devices))
		return true
	default:
		c.deadLetterMessage(m, code, reasonText(pa))
	}
	var done []uint64
	l.mu.Lock()
	for _, s := range m.seqs {
		r := l.recs[s]
		if r == nil {
			continue
		}
		r.parts--
		if r.parts == 0 {
			delete(l.recs, s)
			done = append(done, s)
		}
	}
	l.mu.Unlock()
	c.ackSeqs(done...)
	return true
}

func reasonText(pa *packets.Puback) string {
	if pa.Properties != nil && pa.Properties.ReasonString != "" {
		return pa.Properties.ReasonString
	}
	return pa.Reason()
}

func (c *Client) ackSeqs(seqs ...uint64) {
	if len(seqs) == 0 {
		return
	}
	if err := c.store.Ack(seqs...); err != nil && !errors.Is(err, tbgateway.ErrStorageClosed) {
		c.stats.errors.Add(1)
		c.log.Error("storage ack failed", "records", len(seqs), "error", err)
	}
}

// take0 returns the dead values recorded so far, leaving finished messages in place.
func (p *packer) take0() ([]*outMsg, []deadValue) {
	dead := p.dead
	p.dead = nil
	return nil, dead
}
