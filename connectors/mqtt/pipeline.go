package mqtt

import (
	"context"
	"errors"
	"sync"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/internal/sendretry"
)

// pending is one received message on its way to storage: its records and its acknowledgement.
type pending struct {
	m    message
	recs []tbgateway.Record
}

// process takes received messages in arrival order, converts them, stores their records in batches and then
// acknowledges them to the broker, in the same order. Conversion of the next batch overlaps the storing of the
// previous one. It returns when ctx is done; messages not yet stored are not acknowledged, so a persistent
// session gets them again from the broker.
func (c *Connector) process(ctx context.Context, sink tbgateway.Sink, queue <-chan message) {
	batches := make(chan []pending, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			select {
			case batch := <-batches:
				if !c.store(ctx, sink, batch) {
					return
				}
				for i := range batch {
					batch[i].m.ack()
				}
				c.stats.acked.Add(uint64(len(batch)))
			case <-ctx.Done():
				return
			}
		}
	})
	for {
		var batch []pending
		select {
		case m := <-queue:
			batch = append(make([]pending, 0, 16), c.handle(ctx, sink, m))
		case <-ctx.Done():
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case m := <-queue:
				batch = append(batch, c.handle(ctx, sink, m))
			default:
				break fill
			}
		}
		select {
		case batches <- batch:
		case <-ctx.Done():
			return
		}
	}
}

// store sends the batch's records, retrying transient failures (storage full) with backoff. A batch refused
// for an invalid record is sent message by message, so only the offending message is skipped. It returns false
// only when ctx ended first.
func (c *Connector) store(ctx context.Context, sink tbgateway.Sink, batch []pending) bool {
	n := 0
	for i := range batch {
		n += len(batch[i].recs)
	}
	if n == 0 {
		return true
	}
	recs := make([]tbgateway.Record, 0, n)
	for i := range batch {
		recs = append(recs, batch[i].recs...)
	}
	err := c.send(ctx, sink, recs)
	if err == nil {
		for i := range batch {
			if len(batch[i].recs) > 0 {
				c.payloadOK(handlerValidation, "", batch[i].m.topic)
			}
		}
		return true
	}
	if !errors.Is(err, tbgateway.ErrInvalidRecord) {
		return false
	}
	for i := range batch {
		if len(batch[i].recs) == 0 {
			continue
		}
		err := c.send(ctx, sink, batch[i].recs)
		switch {
		case err == nil:
			c.payloadOK(handlerValidation, "", batch[i].m.topic)
		case errors.Is(err, tbgateway.ErrInvalidRecord):
			c.payloadFailed(handlerValidation, "", batch[i].m.topic, err)
		default:
			return false
		}
	}
	return true
}

// send stores recs, sending them again while storage refuses them; it returns nil once they are stored, an error
// wrapping ErrInvalidRecord, or ctx's error (see sendretry.Sender.Send).
func (c *Connector) send(ctx context.Context, sink tbgateway.Sink, recs []tbgateway.Record) error {
	refused := false
	s := sendretry.Sender{Policy: storeRetry(), Refused: func(err error, n int) {
		c.stats.sendRetries.Add(1)
		if n == 1 {
			refused = true
			c.log.Warn("cannot store records; holding the broker's messages unacknowledged and retrying", "records", len(recs), "err", err)
		}
	}}
	if err := s.Send(ctx, sink, recs...); err != nil {
		return err
	}
	if refused {
		c.log.Info("storing records works again")
	}
	c.stats.recordsSent.Add(uint64(len(recs)))
	return nil
}

// storeRetry paces the retries of a Send that failed for a full storage: soon at first, then up to every 2 s.
func storeRetry() backoff.Policy {
	return backoff.Policy{Initial: 10 * time.Millisecond, Max: 2 * time.Second}
}

// handle routes one message: connect and disconnect requests become KindConnect/KindDisconnect records,
// attribute requests are served in the background, and every matching mapping converts the message.
func (c *Connector) handle(ctx context.Context, sink tbgateway.Sink, m message) pending {
	p := pending{m: m}
	for _, r := range c.c.connects {
		if r.filter.matches(m.topic) {
			if rec, ok := c.deviceRequest(r, m, tbgateway.KindConnect); ok {
				p.recs = append(p.recs, rec)
			}
			return p
		}
	}
	for _, r := range c.c.disconnect {
		if r.filter.matches(m.topic) {
			if rec, ok := c.deviceRequest(r, m, tbgateway.KindDisconnect); ok {
				p.recs = append(p.recs, rec)
			}
			return p
		}
	}
	for _, r := range c.c.attrReqs {
		if r.filter.matches(m.topic) {
			c.startAttributeRequest(ctx, sink, r, m)
			return p
		}
	}
	matched := false
	for _, mp := range c.c.mappings {
		if !mp.filter.matches(m.topic) {
			continue
		}
		matched = true
		recs, err := mp.conv.Convert(m.topic, m.payload)
		if err != nil {
			c.payloadFailed(handlerMapping, mp.filter.subscribe, m.topic, err)
			continue
		}
		c.payloadOK(handlerMapping, mp.filter.subscribe, m.topic)
		p.recs = append(p.recs, recs...)
	}
	if !matched {
		c.stats.unmatched.Add(1)
		c.log.Debug("no mapping matches the topic; message skipped", "topic", m.topic)
	}
	return p
}
