package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/internal/modbusproto"
)

// line is one physical line: a TCP/UDP endpoint or a serial port. One goroutine owns its client and runs the
// jobs of every device on it one at a time, writes before polls.
type line struct {
	key    string
	dev    *Device // the first device on the line; its transport settings open the connection
	log    *slog.Logger
	writes chan *job
	polls  chan *job

	client client
	// reconnect spaces connection attempts: connectAttemptCount attempts connectAttemptTimeMs apart, then a pause
	// of waitAfterFailedAttemptsMs, and again.
	reconnect   *backoff.Backoff
	nextConnect time.Time // no connection attempt before this
	now         func() time.Time
	connects    atomic.Uint64
}

// job is work for a line: fn runs with the line's open client, already set to the job's unit id.
type job struct {
	unit   uint8
	device string
	fn     func(ctx context.Context, c client) error
	done   chan error // buffered, 1
}

func newLine(d *Device, devices int, log *slog.Logger) *line {
	return &line{key: d.lineKey(), dev: d, log: log.With("line", d.lineKey()),
		writes: make(chan *job, 16), polls: make(chan *job, max(devices, 1)),
		reconnect: backoff.New(backoff.Attempts(d.ConnectAttemptTime, d.ConnectAttempts, d.WaitAfterFailed)),
		now:       time.Now}
}

// run serves jobs until ctx is done, then closes the connection.
func (l *line) run(ctx context.Context) {
	defer l.close()
	for {
		var j *job
		select {
		case j = <-l.writes:
		default:
			select {
			case j = <-l.writes:
			case j = <-l.polls:
			case <-ctx.Done():
				return
			}
		}
		j.done <- l.exec(ctx, j)
		if backoff.Sleep(ctx, l.dev.DelayBetween) != nil {
			return
		}
	}
}

// submit queues a job and waits for its result.
func (l *line) submit(ctx context.Context, q chan *job, j *job) error {
	j.done = make(chan error, 1)
	select {
	case q <- j:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errLineDown is returned for jobs while the line waits before its next connection attempt.
var errLineDown = errors.New("not connected")

func (l *line) exec(ctx context.Context, j *job) error {
	var err error
	for attempt := 0; attempt <= l.dev.Retries; attempt++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err = l.open(); err != nil {
			return err
		}
		if err = l.client.SetUnitID(j.unit); err != nil {
			return fmt.Errorf("set unit id %d: %w", j.unit, err)
		}
		err = j.fn(ctx, l.client)
		if err == nil || classify(err) == faultException {
			return err
		}
		// a timeout or a broken frame may leave a late answer in the stream: start over on a new connection
		l.close()
	}
	return err
}

func (l *line) open() error {
	if l.client != nil {
		return nil
	}
	if now := l.now(); now.Before(l.nextConnect) {
		return fmt.Errorf("%w: next connection attempt in %v", errLineDown, l.nextConnect.Sub(now).Round(time.Millisecond))
	}
	c, err := dial(l.dev)
	if err != nil {
		l.nextConnect = l.now().Add(l.reconnect.Next())
		return fmt.Errorf("connect %s: %w", l.dev.url(), err)
	}
	l.reconnect.Reset()
	l.nextConnect = time.Time{}
	l.client = c
	l.connects.Add(1)
	l.log.Debug("connected")
	return nil
}

func (l *line) close() {
	if l.client != nil {
		_ = l.client.Close() // the connection is discarded either way
		l.client = nil
	}
}

// fault classifies a failed request for statistics and for deciding whether the connection survives.
type fault uint8

const (
	faultNone       fault = iota
	faultTimeout          // no answer in time
	faultException        // the device answered with a Modbus exception
	faultProtocol         // garbage: bad CRC, short frame, wrong ids
	faultDisconnect       // connection refused, reset or closed; or the line waits to reconnect
)

func (f fault) String() string {
	return [...]string{"ok", "timeout", "exception", "protocol error", "disconnected"}[f]
}

func classify(err error) fault {
	var ne net.Error
	switch {
	case err == nil:
		return faultNone
	case errors.Is(err, mb.ErrRequestTimedOut), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, modbusproto.ErrTimeout),
		errors.As(err, &ne) && ne.Timeout():
		return faultTimeout
	case errors.Is(err, mb.ErrIllegalFunction), errors.Is(err, mb.ErrIllegalDataAddress),
		errors.Is(err, mb.ErrIllegalDataValue), errors.Is(err, mb.ErrServerDeviceFailure),
		errors.Is(err, mb.ErrAcknowledge), errors.Is(err, mb.ErrServerDeviceBusy),
		errors.Is(err, mb.ErrMemoryParityError), errors.Is(err, mb.ErrGWPathUnavailable),
		errors.Is(err, mb.ErrGWTargetFailedToRespond), errors.As(err, new(*modbusproto.ExceptionError)):
		return faultException
	case errors.Is(err, mb.ErrBadCRC), errors.Is(err, mb.ErrShortFrame), errors.Is(err, mb.ErrProtocolError),
		errors.Is(err, mb.ErrBadUnitId), errors.Is(err, mb.ErrBadTransactionId),
		errors.Is(err, mb.ErrUnknownProtocolId), errors.Is(err, mb.ErrUnexpectedParameters),
		errors.Is(err, modbusproto.ErrFrame), errors.Is(err, modbusproto.ErrChecksum),
		errors.Is(err, modbusproto.ErrUnexpected), errors.Is(err, modbusproto.ErrLocalEcho),
		errors.Is(err, modbusproto.ErrRequestEchoed):
		return faultProtocol
	}
	return faultDisconnect
}
