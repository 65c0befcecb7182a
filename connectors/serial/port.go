package serial

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.bug.st/serial"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
)

// lineQueue bounds the lines read ahead of the worker, and heldMax the converted records waiting for the sender;
// beyond them the port's reader waits (backpressure).
const (
	lineQueue = 16
	heldMax   = 16
)

// writeReq is a write handed to a port's worker; the worker answers every request it takes on result.
type writeReq struct {
	ctx  context.Context
	data []byte
	// rpc is the RPC whose response is awaited; nil when none is.
	rpc    *RPCMethod
	result chan writeResult // buffered 1
}

type writeResult struct {
	response []byte
	err      error
}

// write hands data to the device's worker and waits for it to be written (and, for an RPC with response, for
// the device's answer).
func (c *Connector) write(ctx context.Context, rs *runState, d *device, data []byte, rpc *RPCMethod) ([]byte, error) {
	w := &writeReq{ctx: ctx, data: data, result: make(chan writeResult, 1)}
	if rpc != nil && rpc.WithResponse {
		w.rpc = rpc
	}
	select {
	case rs.writes[d] <- w:
	case <-rs.done:
		return nil, fmt.Errorf("serial connector %q stopped", c.name)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-w.result:
		return r.response, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// session keeps the device's port open until ctx is cancelled: it opens the port, serves it until it fails,
// and opens it again after a backoff delay. Writes that arrive while the port is closed fail at once.
func (c *Connector) session(ctx context.Context, d *device, writes chan *writeReq, out chan<- tbgateway.Record) {
	b := backoff.New(c.reconnect)
	mode := d.cfg.Mode
	for {
		p, err := c.open(d.cfg.Port, &mode)
		if err == nil && d.cfg.ReadTimeout > 0 {
			if err = p.SetReadTimeout(d.cfg.ReadTimeout); err != nil {
				p.Close()
			}
		}
		if err == nil {
			if !c.faults.OK(d.portKey) {
				c.log.Info("port open", "device", d.cfg.Name, "port", d.cfg.Port)
			}
			b.Begin()
			err = c.serve(ctx, d, p, writes, out)
			if ctx.Err() != nil {
				return
			}
			err = fmt.Errorf("port lost: %w", err)
		} else {
			err = fmt.Errorf("cannot open port: %w", err)
		}
		c.faults.Fail(d.portKey, err, "device", d.cfg.Name, "port", d.cfg.Port)
		t := time.NewTimer(b.Next())
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
				waiting = false
			case w := <-writes:
				w.result <- writeResult{err: fmt.Errorf("port %s is not open (%v)", d.cfg.Port, err)}
			}
		}
	}
}

// line is a line read from the port with its number in the order read.
type line struct {
	data []byte
	n    uint64
}

// serve runs the port's worker until the port fails (returning why) or ctx is cancelled. The worker takes
// writes before lines, and holds converted records for the sender.
func (c *Connector) serve(ctx context.Context, d *device, p serial.Port, writes chan *writeReq, out chan<- tbgateway.Record) error {
	lines := make(chan line, lineQueue)
	readErr := make(chan error, 1)
	quit := make(chan struct{})
	var framed atomic.Uint64
	var wg sync.WaitGroup
	wg.Go(func() { readErr <- c.read(d, p, lines, quit, &framed) })
	defer func() {
		close(quit)
		p.Close() // unblocks the reader's Read
		wg.Wait()
	}()
	var held []tbgateway.Record
	for {
		select {
		case w := <-writes:
			if err := c.handleWrite(ctx, d, p, w, lines, readErr, &framed, &held); err != nil {
				return err
			}
			continue
		default:
		}
		var toSender chan<- tbgateway.Record
		var next tbgateway.Record
		if len(held) > 0 {
			toSender, next = out, held[0]
		}
		fromReader := lines
		if len(held) >= heldMax {
			fromReader = nil
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-readErr:
			return err
		case w := <-writes:
			if err := c.handleWrite(ctx, d, p, w, lines, readErr, &framed, &held); err != nil {
				return err
			}
		case toSender <- next:
			held = held[1:]
		case l := <-fromReader:
			held = c.handleLine(d, l.data, held)
		}
	}
}

// read frames the port's bytes into lines until the port fails. A read timeout with an unfinished line hands
// that line on as it is (the Python sample's end of a message).
func (c *Connector) read(d *device, p serial.Port, lines chan<- line, quit <-chan struct{}, framed *atomic.Uint64) error {
	f := newFramer(d.cfg.Delimiter, MaxLineLength)
	buf := make([]byte, 512)
	stopped := false
	emit := func(b []byte) {
		if stopped {
			return
		}
		select {
		case lines <- line{data: append([]byte(nil), b...), n: framed.Add(1) - 1}:
		case <-quit:
			stopped = true
		}
	}
	overlong := func(err error) {
		c.faults.Fail(d.lineKey, err, "device", d.cfg.Name, "port", d.cfg.Port)
	}
	for !stopped {
		n, err := p.Read(buf)
		if err != nil {
			return err
		}
		if n == 0 {
			if rest := f.flush(); rest != nil {
				emit(rest)
			}
			continue
		}
		f.push(buf[:n], emit, overlong)
	}
	return errors.New("stopped")
}

// handleLine converts a line and appends its record to held; a line that does not convert is a fault of the
// device (its converted keys still go on).
func (c *Connector) handleLine(d *device, data []byte, held []tbgateway.Record) []tbgateway.Record {
	var recs []tbgateway.Record
	var err error
	switch {
	case d.cfg.Expression != nil:
		recs, err = d.cfg.Expression.Convert("", data)
	case d.conv != nil:
		recs, err = d.conv.Convert(d.cfg.Port, data)
	default:
		var rec tbgateway.Record
		rec, err = ParseLine(d.cfg, data)
		recs = []tbgateway.Record{rec}
	}
	if err != nil {
		c.faults.Fail(d.lineKey, fmt.Errorf("line %q: %w", clip(data), err), "device", d.cfg.Name, "port", d.cfg.Port)
	} else {
		c.faults.OK(d.lineKey)
	}
	for _, rec := range recs {
		if rec.Datapoints() > 0 {
			rec.Connector = c.name
			held = append(held, rec)
		}
	}
	return held
}

// handleWrite writes a request's bytes to the port and, for an RPC with response, waits for the first line
// finished after the write began; lines finished before are data and go to held. It returns an error only when
// the port failed (the request is answered either way).
func (c *Connector) handleWrite(ctx context.Context, d *device, p serial.Port, w *writeReq, lines <-chan line,
	readErr <-chan error, framed *atomic.Uint64, held *[]tbgateway.Record) error {
	if err := w.ctx.Err(); err != nil {
		w.result <- writeResult{err: err}
		return nil
	}
	// Lines finished before the write began are data; the first line finished after is the response.
	after := framed.Load()
	if _, err := p.Write(w.data); err != nil {
		w.result <- writeResult{err: fmt.Errorf("write to port %s: %w", d.cfg.Port, err)}
		return err
	}
	c.log.Debug("written", "device", d.cfg.Name, "port", d.cfg.Port, "bytes", len(w.data))
	if w.rpc == nil {
		w.result <- writeResult{}
		return nil
	}
	t := time.NewTimer(w.rpc.ResponseTimeout)
	defer t.Stop()
	for {
		select {
		case l := <-lines:
			if l.n < after {
				*held = c.handleLine(d, l.data, *held)
				continue
			}
			w.result <- writeResult{response: l.data}
			return nil
		case err := <-readErr:
			w.result <- writeResult{err: fmt.Errorf("port %s lost while waiting for the response: %w", d.cfg.Port, err)}
			return err
		case <-t.C:
			w.result <- writeResult{err: fmt.Errorf("no response from port %s within %v", d.cfg.Port, w.rpc.ResponseTimeout)}
			return nil
		case <-w.ctx.Done():
			w.result <- writeResult{err: w.ctx.Err()}
			return nil
		case <-ctx.Done():
			w.result <- writeResult{err: ctx.Err()}
			return nil
		}
	}
}
