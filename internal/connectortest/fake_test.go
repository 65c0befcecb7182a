package connectortest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// fakeDevice is the device side of fakeConnector: Produce puts a reading on its line; the connector acknowledges
// what it stored.
type fakeDevice struct {
	line  chan int64
	seq   atomic.Int64
	acked atomic.Int64
}

func newFakeDevice() *fakeDevice { return &fakeDevice{line: make(chan int64, 64)} }

func (d *fakeDevice) produce(ctx context.Context) error {
	select {
	case d.line <- d.seq.Add(1):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fakeConnector turns readings into telemetry, sends each until stored (retrying a full storage), then
// acknowledges it. bug selects one deliberate breach of the contract, "" for none.
type fakeConnector struct {
	dev     *fakeDevice
	bug     string
	running atomic.Bool
	stop    chan struct{}
}

var errNotRunning = errors.New("fake: not running")

func (c *fakeConnector) Run(ctx context.Context, sink tbgateway.Sink) error {
	c.running.Store(true)
	defer c.running.Store(false)
	if c.bug == "leak" {
		c.stop = make(chan struct{})
		go func() { <-c.stop }() // never closed
	}
	for {
		select {
		case <-ctx.Done():
			if c.bug == "ctxErr" {
				return ctx.Err()
			}
			return nil
		case seq := <-c.dev.line:
			if err := c.deliver(ctx, sink, seq); err != nil {
				if c.bug == "ctxErr" {
					return err
				}
				return nil
			}
		}
	}
}

// deliver sends one reading until it is stored; it returns only ctx's error.
func (c *fakeConnector) deliver(ctx context.Context, sink tbgateway.Sink, seq int64) error {
	if c.bug == "ackEarly" {
		c.dev.acked.Add(1)
	}
	for attempt := 0; ; attempt++ {
		v := seq
		if c.bug == "retryChanged" && attempt > 0 {
			v = -seq
		}
		rec := tbgateway.Record{Device: "fake", Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"seq": v}}}}
		err := sink.Send(ctx, rec)
		switch {
		case err == nil:
			if c.bug != "ackEarly" {
				c.dev.acked.Add(1)
			}
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, tbgateway.ErrStorageFull) && c.bug == "ackOnFailure":
			c.dev.acked.Add(1)
			return nil
		case errors.Is(err, tbgateway.ErrStorageFull) && c.bug != "dropOnFull":
			// The connector's own backoff before the retry (product behaviour, not test pacing).
			select {
			case <-time.After(time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		default:
			return nil // dropped
		}
	}
}

func (c *fakeConnector) UpdateAttributes(ctx context.Context, device string, values map[string]any) error {
	if c.bug == "panicDownlink" {
		var m map[string]int
		m["x"]++ // deliberate nil-map panic
	}
	if !c.running.Load() && c.bug != "nilDownlink" {
		return errNotRunning
	}
	return nil
}

func (c *fakeConnector) HandleRPC(ctx context.Context, req tbgateway.RPCRequest) (json.RawMessage, error) {
	if c.bug == "hangDownlink" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if !c.running.Load() {
		return nil, fmt.Errorf("rpc %s: %w", req.Method, errNotRunning)
	}
	return json.RawMessage(`{}`), nil
}
