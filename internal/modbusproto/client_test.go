package modbusproto

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"
)

// fakeLine is a serial line with one device on it: what the client writes is answered at once by device, after
// the written bytes themselves when the line echoes.
type fakeLine struct {
	framing Framing
	echo    bool
	regs    []uint16
	mute    bool // the device does not answer
	in      chan []byte
	pending []byte
}

func newFakeLine(f Framing, echo bool) *fakeLine {
	return &fakeLine{framing: f, echo: echo, regs: make([]uint16, 16), in: make(chan []byte, 16)}
}

func (l *fakeLine) Write(p []byte) (int, error) {
	if l.echo {
		l.in <- slices.Clone(p)
	}
	var unit byte
	var req PDU
	var err error
	if l.framing == ASCII {
		unit, req, err = DecodeASCII(p)
	} else {
		unit, req, err = DecodeRTU(p)
	}
	if err != nil || l.mute {
		return len(p), nil
	}
	resp := l.handle(req)
	if l.framing == ASCII {
		l.in <- EncodeASCII(unit, resp)
	} else {
		l.in <- EncodeRTU(unit, resp)
	}
	return len(p), nil
}

// handle serves function codes 3 and 6 on the device's registers.
func (l *fakeLine) handle(req PDU) PDU {
	addr, n := binary.BigEndian.Uint16(req.Data), binary.BigEndian.Uint16(req.Data[2:])
	switch req.Function {
	case FuncReadHoldingRegisters:
		if int(addr)+int(n) > len(l.regs) {
			return ExceptionPDU(req.Function, IllegalDataAddress)
		}
		data := []byte{byte(2 * n)}
		for _, r := range l.regs[addr : addr+n] {
			data = binary.BigEndian.AppendUint16(data, r)
		}
		return PDU{Function: req.Function, Data: data}
	case FuncWriteSingleRegister:
		l.regs[addr] = n
		return req
	}
	return ExceptionPDU(req.Function, IllegalFunction)
}

func (l *fakeLine) Read(ctx context.Context, p []byte) (int, error) {
	if len(l.pending) == 0 {
		select {
		case l.pending = <-l.in:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	n := copy(p, l.pending)
	l.pending = l.pending[n:]
	return n, nil
}

func (l *fakeLine) Discard() {
	l.pending = nil
	for {
		select {
		case <-l.in:
		default:
			return
		}
	}
}

func (l *fakeLine) Close() error { return nil }

// testTimeout is the client's answer timeout in tests where the device answers at once; tests that expect a
// timeout use it too, and assert the error, never the time taken.
const testTimeout = 200 * time.Millisecond

func TestClientReadWrite(t *testing.T) {
	for _, f := range []Framing{RTU, ASCII} {
		for _, echo := range []bool{false, true} {
			line := newFakeLine(f, echo)
			c := NewClient(line, ClientConfig{Framing: f, LocalEcho: echo, Timeout: testTimeout})
			ctx := context.Background()
			if err := c.WriteRegister(ctx, 7, 3, 0xBEEF); err != nil {
				t.Fatalf("%v echo=%v: write: %v", f, echo, err)
			}
			regs, err := c.ReadHoldingRegisters(ctx, 7, 2, 3)
			if err != nil || !slices.Equal(regs, []uint16{0, 0xBEEF, 0}) {
				t.Fatalf("%v echo=%v: read = %v, %v", f, echo, regs, err)
			}
			_, err = c.ReadHoldingRegisters(ctx, 7, 15, 2)
			var ex *ExceptionError
			if !errors.As(err, &ex) || ex.Code != IllegalDataAddress {
				t.Fatalf("%v echo=%v: read past the end = %v, want an illegal data address exception", f, echo, err)
			}
		}
	}
}

// TestClientEchoNotAnnounced: on a line that echoes while the client does not expect it, reads fail with
// ErrRequestEchoed (never with the request's bytes taken as values), also after a write whose echo passed for
// its answer.
func TestClientEchoNotAnnounced(t *testing.T) {
	for _, f := range []Framing{RTU, ASCII} {
		line := newFakeLine(f, true)
		c := NewClient(line, ClientConfig{Framing: f, Timeout: testTimeout})
		ctx := context.Background()
		if _, err := c.ReadHoldingRegisters(ctx, 1, 0, 2); !errors.Is(err, ErrRequestEchoed) {
			t.Fatalf("%v: read on an echoing line = %v, want ErrRequestEchoed", f, err)
		}
		_ = c.WriteRegister(ctx, 1, 0, 5) // its echo looks like its answer
		if regs, err := c.ReadHoldingRegisters(ctx, 1, 0, 2); !errors.Is(err, ErrRequestEchoed) {
			t.Fatalf("%v: read after a write on an echoing line = %v, %v; want ErrRequestEchoed", f, regs, err)
		}
	}
}

// TestClientEchoMissing: with local echo configured on a line that does not echo, the exchange fails with
// ErrLocalEcho.
func TestClientEchoMissing(t *testing.T) {
	for _, f := range []Framing{RTU, ASCII} {
		c := NewClient(newFakeLine(f, false), ClientConfig{Framing: f, LocalEcho: true, Timeout: testTimeout})
		if _, err := c.ReadHoldingRegisters(context.Background(), 1, 0, 2); !errors.Is(err, ErrLocalEcho) {
			t.Fatalf("%v: %v, want ErrLocalEcho", f, err)
		}
	}
}

func TestClientTimeoutAndCancel(t *testing.T) {
	line := newFakeLine(RTU, false)
	line.mute = true
	c := NewClient(line, ClientConfig{Framing: RTU, Timeout: testTimeout})
	if _, err := c.ReadHoldingRegisters(context.Background(), 1, 0, 1); !errors.Is(err, ErrTimeout) {
		t.Fatalf("mute device: %v, want ErrTimeout", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ReadHoldingRegisters(ctx, 1, 0, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v, want context.Canceled", err)
	}
}

// TestClientASCIINoise: bytes before ':' and a broken frame start are skipped; a frame with a wrong LRC is
// refused.
func TestClientASCIINoise(t *testing.T) {
	line := newFakeLine(ASCII, false)
	line.mute = true
	good := EncodeASCII(1, PDU{Function: 3, Data: []byte{2, 0x12, 0x34}})
	// the device side sends after the request was written (what came before it would be discarded)
	w := &writeHook{Line: line, after: func() { line.in <- append([]byte("\x00\r\n:01"), good...) }}
	c := NewClient(w, ClientConfig{Framing: ASCII, Timeout: testTimeout})
	regs, err := c.ReadHoldingRegisters(context.Background(), 1, 0, 1)
	if err != nil || !slices.Equal(regs, []uint16{0x1234}) {
		t.Fatalf("read through noise = %v, %v", regs, err)
	}
	bad := slices.Clone(good)
	bad[len(bad)-3]++ // the LRC's low digit
	w.after = func() { line.in <- bad }
	if _, err := c.ReadHoldingRegisters(context.Background(), 1, 0, 1); !errors.Is(err, ErrChecksum) {
		t.Fatalf("wrong LRC: %v, want ErrChecksum", err)
	}
}

// writeHook runs after once each request was written.
type writeHook struct {
	Line
	after func()
}

func (w *writeHook) Write(p []byte) (int, error) {
	n, err := w.Line.Write(p)
	w.after()
	return n, err
}

// bytesLine answers every request with fixed bytes and then reports the line closed.
type bytesLine struct {
	answer []byte
	left   []byte
}

var errLineEnd = errors.New("no more bytes")

func (l *bytesLine) Write(p []byte) (int, error) { l.left = l.answer; return len(p), nil }
func (l *bytesLine) Read(_ context.Context, p []byte) (int, error) {
	if len(l.left) == 0 {
		return 0, errLineEnd
	}
	n := copy(p, l.left)
	l.left = l.left[n:]
	return n, nil
}
func (l *bytesLine) Discard()     {}
func (l *bytesLine) Close() error { return nil }

// FuzzClientAnswer: whatever bytes answer a read of 2 holding registers, on either framing and with or without
// local echo, the client never panics and returns either an error or exactly 2 registers.
func FuzzClientAnswer(f *testing.F) {
	f.Add(EncodeRTU(1, PDU{Function: 3, Data: []byte{4, 0, 1, 0, 2}}), false)
	f.Add(EncodeASCII(1, PDU{Function: 3, Data: []byte{4, 0, 1, 0, 2}}), false)
	f.Add(EncodeRTU(1, ExceptionPDU(3, IllegalDataAddress)), false)
	f.Add([]byte{1, 3, 0xFF}, true)
	f.Add([]byte(":0103\r\n"), false)
	f.Fuzz(func(t *testing.T, answer []byte, echo bool) {
		for _, fr := range []Framing{RTU, ASCII} {
			c := NewClient(&bytesLine{answer: answer}, ClientConfig{Framing: fr, LocalEcho: echo, Timeout: time.Second})
			regs, err := c.ReadHoldingRegisters(context.Background(), 1, 0, 2)
			if err == nil && len(regs) != 2 {
				t.Fatalf("%v: %d registers without an error", fr, len(regs))
			}
		}
	})
}
