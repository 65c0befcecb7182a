package modbusproto

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/goburrow/serial"
)

// SerialConfig is a serial port and its line settings.
type SerialConfig struct {
	Device   string // e.g. /dev/ttyUSB0
	Baudrate int
	DataBits int    // 5-8
	Parity   string // N, E or O
	StopBits int    // 1 or 2
}

// serialPoll is how long the port's reader waits in one read before it looks whether the line was closed.
const serialPoll = 20 * time.Millisecond

// serialLine is a Line on a serial port: one goroutine reads the port into a bounded queue of chunks, so that a
// Read can be abandoned when its context ends and Discard need not wait.
type serialLine struct {
	port    serial.Port
	chunks  chan []byte
	readErr chan error // buffered, 1: why the reader stopped
	stop    chan struct{}
	done    chan struct{}
	pending []byte // received, not read yet
	failed  error

	closeOnce sync.Once
	closeErr  error
}

// OpenSerial opens a serial port with its line settings; whatever the port held before is discarded.
func OpenSerial(cfg SerialConfig) (Line, error) {
	p, err := serial.Open(&serial.Config{Address: cfg.Device, BaudRate: cfg.Baudrate, DataBits: cfg.DataBits,
		Parity: cfg.Parity, StopBits: cfg.StopBits, Timeout: serialPoll})
	if err != nil {
		return nil, fmt.Errorf("open serial port %s: %w", cfg.Device, err)
	}
	// a late answer to whoever used the port before must not be taken for ours
	stale := make([]byte, 256)
	for range MaxASCIIFrame {
		if n, err := p.Read(stale); n == 0 || err != nil {
			break
		}
	}
	l := &serialLine{port: p, chunks: make(chan []byte, 64), readErr: make(chan error, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go l.read()
	return l, nil
}

func (l *serialLine) read() {
	defer close(l.done)
	for {
		buf := make([]byte, 256)
		n, err := l.port.Read(buf)
		if err != nil && !errors.Is(err, serial.ErrTimeout) {
			l.readErr <- err
			return
		}
		if n > 0 {
			select {
			case l.chunks <- buf[:n]:
			case <-l.stop:
				return
			}
		}
		select {
		case <-l.stop:
			return
		default:
		}
	}
}

// Write sends p whole.
func (l *serialLine) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := l.port.Write(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Read returns received bytes, waiting for one at least until ctx ends.
func (l *serialLine) Read(ctx context.Context, p []byte) (int, error) {
	if len(l.pending) == 0 {
		if l.failed != nil {
			return 0, l.failed
		}
		select {
		case l.pending = <-l.chunks:
		case err := <-l.readErr:
			l.failed = fmt.Errorf("serial port read: %w", err)
			return 0, l.failed
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	n := copy(p, l.pending)
	l.pending = l.pending[n:]
	return n, nil
}

// Discard drops what was received and not read yet.
func (l *serialLine) Discard() {
	l.pending = nil
	for {
		select {
		case <-l.chunks:
		default:
			return
		}
	}
}

// Close stops the reader and closes the port.
func (l *serialLine) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
		l.closeErr = l.port.Close()
	})
	return l.closeErr
}
