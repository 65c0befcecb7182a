package uplink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
)

// devQueue holds a device's records taken from the storage but not yet packed, because its rate limit is
// reached. Devices under their limits never get one: their records are packed straight from the batch.
// Live-lane records (telemetry only) wait in live and go before the device's backlog in entries: the storage
// hands out no live record while a connect or disconnect of its device is pending, so only telemetry and
// attributes can be overtaken, which ThingsBoard stores the same in any order (see tbgateway.LiveReader).
type devQueue struct {
	name    string
	live    []tbgateway.Entry
	entries []tbgateway.Entry
	until   time.Time
}

// front returns the record the device sends next.
func (q *devQueue) front() *tbgateway.Entry {
	if len(q.live) > 0 {
		return &q.live[0]
	}
	return &q.entries[0]
}

// pop removes the front record.
func (q *devQueue) pop() {
	if len(q.live) > 0 {
		q.live[0] = tbgateway.Entry{}
		q.live = q.live[1:]
		return
	}
	q.entries[0] = tbgateway.Entry{}
	q.entries = q.entries[1:]
}

func (q *devQueue) len() int { return len(q.live) + len(q.entries) }

// add queues e behind the device's records of the same lane.
func (q *devQueue) add(e *tbgateway.Entry, live bool) {
	if live {
		q.live = append(q.live, *e)
	} else {
		q.entries = append(q.entries, *e)
	}
}

// dispatcher is the single goroutine that packs records, in storage order per device, and publishes them.
type dispatcher struct {
	c        *Client
	l        *link
	pk       *packer
	queues   map[string]*devQueue
	blocked  []*devQueue // devices with queued records, in the order they got blocked
	pendingN int
}

// deliver drains the storage over l until the link ends, beginning with the primed live records (see
// startLiveLane). It runs a fetcher (storage.Next), with live-first a second one (NextLive), the dispatcher
// (rate limits, packing, publishing in order) and a completer (PUBACKs).
func (c *Client) deliver(l *link, primed []tbgateway.Entry) {
	batches := make(chan []tbgateway.Entry, 1)
	var wg sync.WaitGroup
	wg.Go(func() { c.fetch(l, "next", c.store.Next, batches) })
	// With live-first, a second fetcher reads the storage's live lane (telemetry produced since this connect).
	var live chan []tbgateway.Entry
	if lr, ok := c.store.(tbgateway.LiveReader); ok && l.cfg.LiveFirst {
		live = make(chan []tbgateway.Entry, 1)
		if len(primed) > 0 {
			live <- primed
		}
		wg.Go(func() { c.fetch(l, "next live", lr.NextLive, live) })
	}
	sem := make(chan struct{}, l.window)
	wg.Go(func() { c.completer(l, sem) })
	defer wg.Wait()

	d := &dispatcher{c: c, l: l, pk: newPacker(l.packetLimit), queues: map[string]*devQueue{}}
	if l.cfg.LatencyMetadata {
		d.pk.publishedTS = func() int64 { return time.Now().UnixMilli() }
	}
	d.pk.onNewChunk = func(dev string, telemetry bool) {
		tm := 0
		if telemetry {
			tm = 1
		}
		c.mu.Lock()
		c.deviceRatesLocked(dev, time.Now()).take(1, tm, 0)
		c.mu.Unlock()
	}
	maxPending := 4 * l.cfg.BatchMax
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	preferLive := true
	for {
		var in, liveIn chan []tbgateway.Entry
		if d.pendingN < maxPending {
			in = batches
		}
		if d.pendingN < 2*maxPending { // live records have a share of their own while the backlog waits
			liveIn = live
		}
		// When both lanes have a batch ready they take turns, live first, so neither starves the other.
		var batch []tbgateway.Entry
		isLive, got := false, false
		first, second := in, liveIn
		if preferLive {
			first, second = liveIn, in
		}
		select {
		case batch = <-first:
			isLive, got = first == live && live != nil, true
		default:
		}
		if !got {
			select {
			case <-l.sendCtx.Done():
				c.settle(l, sem)
				return
			case <-c.rateChange():
				for _, q := range d.blocked { // new limits: every blocked device is admitted again under them
					q.until = time.Time{}
				}
			case batch = <-second:
				isLive = second == live && live != nil
			case batch = <-first:
				isLive = first == live && live != nil
			case <-timer.C:
			}
		}
		if batch != nil {
			preferLive = !isLive
		}
		next := d.pump(batch, isLive)
		if !c.send(l, d.pk, sem) {
			c.settle(l, sem)
			return
		}
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
	}
}

// fetch hands the batches of one storage reader to out until the link ends; a storage error ends the link.
func (c *Client) fetch(l *link, what string, next func(context.Context, int) ([]tbgateway.Entry, error), out chan<- []tbgateway.Entry) {
	for {
		es, err := next(l.ctx, l.cfg.BatchMax)
		if err != nil {
			if l.ctx.Err() == nil {
				l.cancel(fmt.Errorf("storage %s: %w", what, err))
			}
			return
		}
		c.stats.pulled.Add(uint64(len(es)))
		select {
		case out <- es:
		case <-l.ctx.Done():
			return
		}
	}
}

// pump first packs what blocked devices may now send, then the new batch (from the live lane when live), and
// returns the earliest time a still-blocked device may go on (zero if none is blocked).
func (d *dispatcher) pump(batch []tbgateway.Entry, live bool) time.Time {
	now := time.Now()
	c := d.c
	c.mu.Lock()
	limited := !c.devRate.empty() || c.ownRate != nil
	d.pk.msgMaxDP = c.ownRate.maxDatapoints()
	c.mu.Unlock()
	if len(d.blocked) > 0 {
		keep := d.blocked[:0]
		for _, q := range d.blocked {
			for q.len() > 0 && !now.Before(q.until) {
				if w := d.admit(q.front(), now); w > 0 {
					q.until = now.Add(w)
					break
				}
				q.pop()
				d.pendingN--
			}
			if q.len() > 0 {
				keep = append(keep, q)
			} else {
				delete(d.queues, q.name)
			}
		}
		clear(d.blocked[len(keep):])
		d.blocked = keep
	}
	for i := range batch {
		e := &batch[i]
		if len(d.queues) > 0 {
			if q := d.queues[e.Record.Device]; q != nil { // keep the device's order behind its queue
				q.add(e, live)
				d.pendingN++
				continue
			}
		}
		if limited {
			if w := d.admit(e, now); w > 0 {
				q := &devQueue{name: e.Record.Device, until: now.Add(w)}
				q.add(e, live)
				d.queues[q.name] = q
				d.blocked = append(d.blocked, q)
				d.pendingN++
			}
			continue
		}
		d.packOne(e)
	}
	var next time.Time
	for _, q := range d.blocked {
		if next.IsZero() || q.until.Before(next) {
			next = q.until
		}
	}
	return next
}

// admit packs e if its device's limits allow it now; otherwise it returns how long the device must wait.
func (d *dispatcher) admit(e *tbgateway.Entry, now time.Time) time.Duration {
	c := d.c
	c.mu.Lock()
	w := c.reserveRecordLocked(d.pk, e, now)
	if w == 0 {
		d.pk.maxDP = c.deviceRatesLocked(e.Record.Device, now).maxDatapoints()
	}
	c.mu.Unlock()
	if w > 0 {
		return w
	}
	d.packOne(e)
	d.pk.maxDP = 0
	return 0
}

// packOne packs one record and registers it for acknowledgement.
func (d *dispatcher) packOne(e *tbgateway.Entry) {
	solo := d.c.isSuspect(e.Seq)
	if solo {
		d.pk.flush() // close the messages being built, so this record's messages carry nothing else
	}
	parts := d.pk.add(e)
	if solo {
		d.pk.flush()
	}
	if parts > 1 {
		d.l.mu.Lock()
		d.l.multi[e.Seq] = splitRecord{left: parts}
		d.l.mu.Unlock()
	}
	if dead := d.pk.takeDead(); len(dead) > 0 {
		d.c.deadValues(e, dead)
	}
	if parts == 0 {
		// Nothing of it is sent; a failed Ack leaves it stored, to be handled the same way on the next connection.
		if err := d.c.ackSeqs(e.Seq); err != nil {
			d.c.log.Error("storage ack of a record with nothing to send failed", "error", err)
		}
	}
}

// reserveRecordLocked checks the device's limits for one record; it takes the datapoints (messages are charged
// as the packer opens them) and returns 0, or how long the device must wait. Caller holds c.mu.
func (c *Client) reserveRecordLocked(pk *packer, e *tbgateway.Entry, now time.Time) time.Duration {
	r := &e.Record
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
	if dps > 0 && pk.tel.lookup(r.Device) == nil {
		tm = 1
	}
	msgs := tm
	if len(r.Attributes) > 0 && pk.attr.lookup(r.Device) == nil {
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
		case <-l.sendCtx.Done():
			return false
		}
		if !c.waitGatewayRate(l, m) {
			<-sem // not published: its slot is free again, for settle to count
			return false
		}
		if c.encodeHook != nil {
			c.encodeHook(m)
		}
		t := &tracked{msg: m, sentAt: time.Now()}
		l.ts.expect(t)
		// Counted before the publish: its PUBACK may be handled (and counted) before PublishWithOptions returns.
		c.stats.messages.Add(1)
		c.stats.datapoints.Add(uint64(m.datapoints))
		_, err := l.cli.PublishWithOptions(l.ctx, &paho.Publish{Topic: m.topic, QoS: 1, Payload: m.payload},
			paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
		if err != nil {
			c.stats.messages.Add(^uint64(0))
			c.stats.datapoints.Add(^uint64(m.datapoints - 1))
			l.ts.expect(nil)
			l.cancel(fmt.Errorf("publish %s: %w", m.topic, err))
			return false
		}
		c.stats.sentBytes.Add(uint64(len(m.payload)))
		c.stats.records.Add(uint64(len(m.seqs)))
		if m.topic == topicGwAttributes {
			c.stats.attrDatapoints.Add(uint64(m.datapoints))
		}
	}
	return true
}

// waitGatewayRate charges a gateway-API message to the gateway device's own limits, waiting while they are
// exhausted (ThingsBoard counts gateway traffic against the gateway device too, and creating a device behind the
// gateway costs one more message). It returns false when the link ended.
func (c *Client) waitGatewayRate(l *link, m *outMsg) bool {
	tm, dps := 0, 0
	if m.topic == topicGwTelemetry {
		tm, dps = 1, m.datapoints
	}
	for {
		now := time.Now()
		c.mu.Lock()
		if c.ownRate == nil {
			c.mu.Unlock()
			return true
		}
		msgs := 1
		for _, d := range m.devices {
			if _, ok := c.seen[d]; !ok {
				msgs++
			}
		}
		w := c.ownRate.reserve(msgs, tm, dps, now)
		if w == 0 {
			for _, d := range m.devices {
				c.seen[d] = struct{}{}
			}
		}
		c.mu.Unlock()
		if w == 0 {
			return true
		}
		if c.sleepRate(l.sendCtx, w) != nil {
			return false
		}
	}
}

// completer handles PUBACKs of tracked messages and the ack timeout. A failed storage Ack is retried with
// ackRetryPolicy while the link lasts, merged with the acknowledgements that come meanwhile; the wait is a case of
// the loop, so PUBACKs keep being settled.
func (c *Client) completer(l *link, sem chan struct{}) {
	var checks <-chan time.Time = c.ackClock
	if checks == nil {
		tick := time.NewTicker(max(l.cfg.AckTimeout/4, 10*time.Millisecond))
		defer tick.Stop()
		checks = tick.C
	}
	r := ackRetry{b: backoff.New(c.ackRetryPolicy)}
	defer r.stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case ack := <-l.ts.acks:
			// Settle every PUBACK already waiting, then acknowledge their records to storage in one call: a
			// durable store commits (and syncs) once for the lot instead of once per PUBACK.
			var done []uint64
			settled := 0
			for more := true; more; {
				ok, seqs := c.complete(l, ack, done)
				done = seqs
				if ok {
					settled++
				}
				select {
				case ack = <-l.ts.acks:
				default:
					more = false
				}
			}
			c.ackOrRetry(l, &r, done)
			for range settled {
				<-sem
			}
		case <-r.due:
			r.due = nil
			c.ackOrRetry(l, &r, nil)
		case now := <-checks:
			if o := l.ts.oldest(); !o.IsZero() && now.Sub(o) > l.cfg.AckTimeout {
				c.stats.ackTimeouts.Add(1)
				l.cancel(fmt.Errorf("no PUBACK within %v", l.cfg.AckTimeout))
				return
			}
		}
	}
}

// ackRetry is the completer's state for storage Acks that failed.
type ackRetry struct {
	b     *backoff.Backoff
	timer *time.Timer
	due   <-chan time.Time // nil unless a retry is scheduled
}

func (r *ackRetry) stop() {
	if r.timer != nil {
		r.timer.Stop()
	}
}

// ackOrRetry acknowledges seqs together with the records whose Ack failed before (l.ackLater). On failure it
// keeps them all in l.ackLater and schedules a retry, unless one is already scheduled.
func (c *Client) ackOrRetry(l *link, r *ackRetry, seqs []uint64) {
	all := append(l.ackLater, seqs...)
	if len(all) == 0 {
		return
	}
	err := c.ackSeqs(all...)
	if err == nil {
		if r.b.Failures() > 0 {
			c.log.Info("storage ack succeeded again", "records", len(all), "attempts", r.b.Failures()+1)
			r.b.Reset()
		}
		l.ackLater = nil
		return
	}
	l.ackLater = all
	if r.due != nil {
		return
	}
	d := r.b.Next()
	if r.b.Failures() == 1 {
		c.log.Error("storage ack failed; retrying while connected (records acknowledged by thingsboard stay stored until then)",
			"records", len(all), "retry", d, "error", err)
	} else {
		c.log.Debug("storage ack failed again", "records", len(all), "retry", d, "error", err)
	}
	if r.timer == nil {
		r.timer = time.NewTimer(d)
	} else {
		r.timer.Reset(d)
	}
	r.due = r.timer.C
}

// complete settles one PUBACK; it reports whether it belonged to a tracked message.
func (c *Client) complete(l *link, ack packets.ControlPacket, done []uint64) (bool, []uint64) {
	pa, ok := ack.Content.(*packets.Puback)
	if !ok {
		return false, done
	}
	t := l.ts.resolve(pa.PacketID)
	if t == nil {
		return false, done
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
		return true, done
	case len(m.seqs) > 1:
		// Malformed, but the message carries several records: find the bad one by sending each alone.
		// Dropping the link rewinds everything in flight in order; the suspects are then packed one per message.
		c.stats.isolations.Add(1)
		c.suspect(m.seqs)
		c.log.Warn("thingsboard rejected a message as malformed; resending its records one per message to find the bad one",
			"reason", fmt.Sprintf("0x%02x %s", code, reasonText(pa)), "topic", m.topic, "devices", m.devices, "records", len(m.seqs))
		l.cancel(fmt.Errorf("thingsboard rejected a message of %d records (0x%02x); isolating them", len(m.seqs), code))
		return true, done
	default:
		c.deadLetterMessage(m, code, reasonText(pa))
	}
	l.mu.Lock()
	for _, s := range m.seqs {
		if sr, multi := l.multi[s]; multi {
			if sr.left > 1 {
				l.multi[s] = splitRecord{left: sr.left - 1, acked: true}
				continue
			}
			delete(l.multi, s)
		}
		done = append(done, s)
	}
	l.mu.Unlock()
	return true, done
}

func reasonText(pa *packets.Puback) string {
	if pa.Properties != nil && pa.Properties.ReasonString != "" {
		return pa.Properties.ReasonString
	}
	return pa.Reason()
}

// ackSeqs acknowledges records to storage. A closed storage is not an error (nothing is left to deliver); any
// other failure is counted and returned, for the caller to retry or report.
func (c *Client) ackSeqs(seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	c.mu.Lock()
	if len(c.suspects) > 0 {
		for _, s := range seqs {
			delete(c.suspects, s)
		}
	}
	c.mu.Unlock()
	if err := c.store.Ack(seqs...); err != nil && !errors.Is(err, tbgateway.ErrStorageClosed) {
		c.stats.errors.Add(1)
		return fmt.Errorf("storage ack of %d records: %w", len(seqs), err)
	}
	return nil
}

// takeDead returns the dead values recorded so far, leaving finished messages in place.
func (p *packer) takeDead() []deadValue {
	dead := p.dead
	p.dead = nil
	return dead
}

// suspect marks records to be packed alone until they are settled.
func (c *Client) suspect(seqs []uint64) {
	c.mu.Lock()
	for _, s := range seqs {
		c.suspects[s] = struct{}{}
	}
	c.mu.Unlock()
}

// isSuspect reports whether a record must be packed alone.
func (c *Client) isSuspect(seq uint64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.suspects) == 0 {
		return false
	}
	_, ok := c.suspects[seq]
	return ok
}
