package modbusproto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors of a Client exchange besides ErrFrame, ErrChecksum and *ExceptionError. ErrRequestEchoed is returned
// together with the framing error it explains (errors.Is matches both).
var (
	ErrTimeout       = errors.New("modbus: no answer in time")
	ErrUnexpected    = errors.New("modbus: unexpected answer")
	ErrLocalEcho     = errors.New("modbus: local echo differs from the request")
	ErrRequestEchoed = errors.New("modbus: the answer begins with the request itself: the line echoes what is sent")
)

// Line is a serial line as a Client drives it; OpenSerial returns one for a serial port.
type Line interface {
	// Write sends p whole.
	Write(p []byte) (int, error)
	// Read returns bytes received and not read yet, waiting until at least one arrives or ctx ends (then it
	// returns ctx's error).
	Read(ctx context.Context, p []byte) (int, error)
	// Discard drops what was received and not read yet, without waiting.
	Discard()
	Close() error
}

// Framing is a serial framing: RTU (binary, CRC-16) or ASCII (hex, LRC).
type Framing uint8

// The serial framings.
const (
	RTU Framing = iota
	ASCII
)

func (f Framing) String() string {
	if f == ASCII {
		return "ascii"
	}
	return "rtu"
}

// ClientConfig configures a Client.
type ClientConfig struct {
	Framing Framing
	// LocalEcho says the line echoes every byte the client sends (an RS-485 adapter that receives its own
	// transmission): the client reads the echo back and checks it before reading the answer.
	LocalEcho bool
	// Timeout bounds one exchange from the end of the request to the end of the answer; 0 means 1 s.
	Timeout time.Duration
	// Baudrate sets RTU's silent interval between frames (3.5 characters, at least 1.75 ms); 0 means 19200.
	Baudrate int
}

// Client is a Modbus master on a serial line: one request at a time, each answered or failed before the next.
// It is not safe for concurrent use.
type Client struct {
	line       Line
	cfg        ClientConfig
	quietUntil time.Time // RTU: the line must be silent until then before the next request
}

// NewClient returns a client for line; Close closes the line.
func NewClient(line Line, cfg ClientConfig) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Baudrate <= 0 {
		cfg.Baudrate = 19200
	}
	return &Client{line: line, cfg: cfg}
}

// Close closes the line.
func (c *Client) Close() error { return c.line.Close() }

// silence is RTU's t3.5: 3.5 characters of 11 bits, and 1.75 ms above 19200 baud as the specification says.
func (c *Client) silence() time.Duration {
	if c.cfg.Baudrate > 19200 {
		return 1750 * time.Microsecond
	}
	return time.Duration(38.5 * float64(time.Second) / float64(c.cfg.Baudrate))
}

// Do sends req to unit and returns the answer's PDU. An exception answer is returned as *ExceptionError; an
// answer from another unit or to another function fails with ErrUnexpected. After a failed exchange whatever
// else arrives is discarded before the next request.
func (c *Client) Do(ctx context.Context, unit byte, req PDU) (PDU, error) {
	if err := c.waitQuiet(ctx); err != nil {
		return PDU{}, err
	}
	var frame []byte
	if c.cfg.Framing == ASCII {
		frame = EncodeASCII(unit, req)
	} else {
		frame = EncodeRTU(unit, req)
	}
	c.line.Discard() // a late answer to an earlier request must not be taken for this one's
	if _, err := c.line.Write(frame); err != nil {
		return PDU{}, fmt.Errorf("modbus: send: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	resp, err := c.exchange(rctx, frame)
	c.quietUntil = time.Now().Add(c.silence())
	if err != nil {
		if ctx.Err() != nil {
			return PDU{}, ctx.Err()
		}
		c.line.Discard()
		return PDU{}, err
	}
	if resp.unit != unit || resp.pdu.Function&^0x80 != req.Function {
		return PDU{}, fmt.Errorf("%w: answer from unit %d to function 0x%02x, request was to unit %d function 0x%02x",
			ErrUnexpected, resp.unit, resp.pdu.Function&^0x80, unit, req.Function)
	}
	if err := resp.pdu.Err(); err != nil {
		return PDU{}, err
	}
	return resp.pdu, nil
}

func (c *Client) waitQuiet(ctx context.Context) error {
	d := time.Until(c.quietUntil)
	if c.cfg.Framing != RTU || d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type answer struct {
	unit byte
	pdu  PDU
}

// exchange reads the local echo (when configured) and the answer to frame.
func (c *Client) exchange(ctx context.Context, frame []byte) (answer, error) {
	if c.cfg.LocalEcho {
		echo := make([]byte, len(frame))
		if n, err := c.readFull(ctx, echo); err != nil {
			return answer{}, fmt.Errorf("%w: %d of the request's %d bytes came back as local echo: %w", ErrLocalEcho, n, len(frame), err)
		}
		if !bytes.Equal(echo, frame) {
			return answer{}, fmt.Errorf("%w: sent % X, echo % X", ErrLocalEcho, frame, echo)
		}
	}
	var got []byte
	var a answer
	var err error
	if c.cfg.Framing == ASCII {
		got, err = c.readASCII(ctx)
		if err == nil {
			a.unit, a.pdu, err = DecodeASCII(got)
		}
	} else {
		got, err = c.readRTU(ctx)
		if err == nil {
			a.unit, a.pdu, err = DecodeRTU(got)
		}
	}
	// The request read back as its own answer: a line with local echo that the configuration does not
	// announce. Only the answers to function codes 5 and 6 legitimately repeat the request.
	echoed := !c.cfg.LocalEcho && len(got) >= 2 && bytes.HasPrefix(frame, got[:min(len(got), len(frame))])
	if echoed && (err != nil || len(got) != len(frame) ||
		(a.pdu.Function != FuncWriteSingleCoil && a.pdu.Function != FuncWriteSingleRegister)) {
		return answer{}, fmt.Errorf("%w: %w", ErrRequestEchoed, errOr(err, ErrUnexpected))
	}
	return a, err
}

func errOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// readFull fills p; on a timeout it says how much arrived.
func (c *Client) readFull(ctx context.Context, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := c.line.Read(ctx, p[n:])
		n += m
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return n, fmt.Errorf("%w: %d of %d bytes within %v", ErrTimeout, n, len(p), c.cfg.Timeout)
			}
			return n, err
		}
	}
	return n, nil
}

// readRTU reads one RTU answer, its length taken from its function code.
func (c *Client) readRTU(ctx context.Context) ([]byte, error) {
	buf := make([]byte, MaxRTUFrame)
	n, err := c.readFull(ctx, buf[:rtuResponseHead])
	if err != nil {
		return buf[:n], err
	}
	size := rtuResponseLen(buf[:n]) // by the function code; for reads by the byte count
	if size <= 0 || size > MaxRTUFrame {
		return buf[:n], fmt.Errorf("%w: RTU answer % X of unknown or oversized length", ErrFrame, buf[:n])
	}
	m, err := c.readFull(ctx, buf[n:size])
	return buf[:n+m], err
}

// readASCII reads one ASCII frame: from ':' (what comes before is skipped) to LF.
func (c *Client) readASCII(ctx context.Context) ([]byte, error) {
	frame := make([]byte, 0, 64)
	var b [1]byte
	for {
		if _, err := c.readFull(ctx, b[:]); err != nil {
			return frame, err
		}
		switch {
		case b[0] == ':':
			frame = append(frame[:0], ':') // a new start: what came before was not a whole frame
		case len(frame) == 0:
			continue // noise between frames
		default:
			frame = append(frame, b[0])
		}
		if b[0] == '\n' {
			return frame, nil
		}
		if len(frame) >= MaxASCIIFrame {
			return frame, fmt.Errorf("%w: no CR LF within %d characters", ErrFrame, MaxASCIIFrame)
		}
	}
}
