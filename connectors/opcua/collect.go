package opcua

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"
	tbgateway "github.com/tbgateway/tbgateway"
)

// subscribe puts every device's nodes as monitored items (in batches of the server's MaxMonitoredItemsPerCall)
// into one subscription (publishing interval subCheckPeriodInMillis, sampling interval 0), opening
// another one only when the server refuses more items per subscription. (The Python gateway opens one
// subscription per device; servers cap subscriptions per session, node-opcua at 10 by default, so that does not
// scale.) Every item's status is checked: a rejected item is logged and left out, the others stay. Then it
// forwards data changes to the sink, one record per device per notification message, until ctx ends or a
// publish error arrives.
func (c *Connector) subscribe(ctx context.Context, s *session, sink tbgateway.Sink, activity *atomic.Int64) error {
	interval := ms(c.cfg.Server.SubCheckPeriodInMillis)
	notes := make(chan *opcua.PublishNotificationData, 256)
	var handles []*item // client handle -> item
	var reqs []*ua.MonitoredItemCreateRequest
	for _, d := range s.order {
		for _, it := range d.items {
			if it.node == nil {
				continue
			}
			// Sampling interval 0 ("as fast as the server can", exception-based where it reports changes as they
			// happen) and a queue of 10, as asyncua's subscribe_data_change: every change between two publishes
			// is delivered.
			req := opcua.NewMonitoredItemCreateRequestWithDefaults(it.node, ua.AttributeIDValue, uint32(len(handles)))
			handles = append(handles, it)
			reqs = append(reqs, req)
		}
	}
	started := time.Now()
	var sub *opcua.Subscription
	subs, fresh := 0, false
	for start := 0; start < len(reqs); {
		if sub == nil {
			var err error
			if sub, err = s.c.Subscribe(ctx, &opcua.SubscriptionParameters{Interval: interval}, notes); err != nil {
				return fmt.Errorf("create subscription %d: %w", subs+1, err)
			}
			subs, fresh = subs+1, true
		}
		end := min(start+s.monBatch, len(reqs))
		res, err := sub.Monitor(ctx, ua.TimestampsToReturnBoth, reqs[start:end]...)
		if err != nil {
			return fmt.Errorf("create monitored items: %w", err)
		}
		full := -1
		for i, r := range res.Results {
			switch {
			case r.StatusCode == ua.StatusBadTooManyMonitoredItems && full < 0:
				full = i
			case r.StatusCode == ua.StatusBadTooManyMonitoredItems:
			default: // a node the server refuses (BadNodeIdUnknown, ...) is a fault of its key
				c.itemStatus(handles[reqs[start+i].RequestedParameters.ClientHandle], r.StatusCode)
			}
		}
		if full < 0 {
			start, fresh = end, false
			continue
		}
		if full == 0 && fresh {
			return errors.New("create monitored items: a new subscription accepts none (BadTooManyMonitoredItems)")
		}
		fresh = false
		// The subscription is full: the refused items go into a new one.
		start += full
		sub = nil
	}
	c.log.Info("subscribed", "items", len(handles), "subscriptions", subs, "took", time.Since(started).Round(time.Millisecond))
	for {
		var n *opcua.PublishNotificationData
		select {
		case <-ctx.Done():
			return nil
		case n = <-notes:
		}
		if n.Error != nil {
			return fmt.Errorf("subscription %d: %w", n.SubscriptionID, n.Error)
		}
		switch v := n.Value.(type) {
		case *ua.DataChangeNotification:
			activity.Store(time.Now().UnixNano())
			if err := c.sendChanges(ctx, sink, handles, v.MonitoredItems); err != nil {
				return err
			}
		case *ua.StatusChangeNotification:
			return fmt.Errorf("subscription %d: status changed to %s", n.SubscriptionID, statusName(v.Status))
		}
	}
}

// sendChanges groups one notification message's items by device and sends them.
func (c *Connector) sendChanges(ctx context.Context, sink tbgateway.Sink, handles []*item, items []*ua.MonitoredItemNotification) error {
	builders := map[*device]*recordBuilder{}
	var order []*device
	for _, mi := range items {
		if mi == nil || int(mi.ClientHandle) >= len(handles) {
			continue
		}
		it := handles[mi.ClientHandle]
		if mi.Value != nil {
			c.itemStatus(it, mi.Value.Status)
		}
		v, ok := dataValueOf(mi.Value)
		if !ok {
			continue
		}
		b := builders[it.dev]
		if b == nil {
			b = &recordBuilder{}
			builders[it.dev] = b
			order = append(order, it.dev)
		}
		b.add(it, itemValue(it, v), timestampOf(it.spec.tsLoc, mi.Value))
	}
	return c.sendBuilt(ctx, sink, builders, order)
}

func (c *Connector) sendBuilt(ctx context.Context, sink tbgateway.Sink, builders map[*device]*recordBuilder, order []*device) error {
	recs := make([]tbgateway.Record, 0, len(order))
	for _, d := range order {
		if d.m.cfg.Converter != nil {
			recs = append(recs, c.convertExpression(d, builders[d])...)
			continue
		}
		recs = append(recs, builders[d].records(c.name, d)...)
	}
	if len(recs) == 0 {
		return nil
	}
	err := sink.Send(ctx, recs...)
	if errors.Is(err, tbgateway.ErrInvalidRecord) {
		// One bad value must not stop the connector; the runtime counted it.
		c.log.Warn("records refused", "err", err)
		return nil
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// poll reads every device's nodes at once and then every pollPeriodInMillis, in batches of the server's
// MaxNodesPerRead, and sends one record per device per poll.
func (c *Connector) poll(ctx context.Context, s *session, sink tbgateway.Sink, activity *atomic.Int64) error {
	var nodes []*ua.NodeID
	var its []*item
	for _, d := range s.order {
		for _, it := range d.items {
			if it.node != nil {
				nodes = append(nodes, it.node)
				its = append(its, it)
			}
		}
	}
	tick := time.NewTicker(ms(c.cfg.Server.PollPeriodInMillis))
	defer tick.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, ms(c.cfg.Server.TimeoutInMillis)*4)
		dvs, err := readAttr(rctx, s.c, nodes, ua.AttributeIDValue, s.readBatch)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("poll: %w", err)
		}
		activity.Store(time.Now().UnixNano())
		builders := map[*device]*recordBuilder{}
		var order []*device
		for i, dv := range dvs {
			it := its[i]
			if dv != nil {
				c.itemStatus(it, dv.Status)
			}
			v, ok := dataValueOf(dv)
			if !ok {
				continue
			}
			b := builders[it.dev]
			if b == nil {
				b = &recordBuilder{}
				builders[it.dev] = b
				order = append(order, it.dev)
			}
			b.add(it, itemValue(it, v), timestampOf(it.spec.tsLoc, dv))
		}
		if err := c.sendBuilt(ctx, sink, builders, order); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
