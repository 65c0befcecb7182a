package logging

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tbgateway/tbgateway"
)

// ErrBusy is what a RemoteOptions.Publish returns when it cannot send now without taking from data (no spare
// rate budget); the lines are kept and tried again later.
var ErrBusy = errors.New("no spare room to send remote logs now")

// retryDelay is the wait after the link was down or busy.
const retryDelay = time.Second

// RemoteOptions configure RunRemote.
type RemoteOptions struct {
	// Publish sends body, a telemetry payload of the gateway device holding datapoints values, and returns once
	// ThingsBoard acknowledged it. ErrBusy or tbgateway.ErrNotConnected keep the lines for later; any other
	// error drops them (counted).
	Publish func(ctx context.Context, body []byte, datapoints int) error
	// MaxPayloadBytes bounds one message; 0 means 8196 (the Python gateway's maxPayloadSizeBytes).
	MaxPayloadBytes int
	// BatchLines bounds the lines of one message; 0 means DefaultBatchLines.
	BatchLines int
	// MessagesPerSecond bounds the messages remote logging sends; 0 means DefaultMessagesPerSecond.
	MessagesPerSecond float64
	// Log receives remote logging's own notices (lines dropped); nil discards.
	Log *slog.Logger
}

func (o RemoteOptions) withDefaults() RemoteOptions {
	if o.MaxPayloadBytes <= 0 {
		o.MaxPayloadBytes = 8196
	}
	if o.BatchLines <= 0 {
		o.BatchLines = DefaultBatchLines
	}
	if o.MessagesPerSecond <= 0 {
		o.MessagesPerSecond = DefaultMessagesPerSecond
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// RunRemote sends the queued remote lines and the error counters until ctx ends, then returns nil. Lines go as
// arrays of {"ts","values":{key: line}} entries, at most BatchLines and MaxPayloadBytes per message and
// MessagesPerSecond messages per second (the error counters come on top). The error counters (<logger>_ERRORS_COUNT and ALL_ERRORS_COUNT) go every
// 5 s while RemoteLoggingLevel names a level and they changed, and are reset every minute.
func (l *Logs) RunRemote(ctx context.Context, o RemoteOptions) error {
	o = o.withDefaults()
	r := l.remote
	s := &sender{r: r, o: o, gap: time.Duration(float64(time.Second) / o.MessagesPerSecond), lastReset: r.now()}
	tick := time.NewTicker(errorsSendPeriod)
	defer tick.Stop()
	// One select serves the lines, the counters' period and the end; sends are at least s.gap apart.
	var wait time.Duration
	var due <-chan time.Time
	for {
		if due == nil && r.pending() > 0 {
			due = time.After(wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-tick.C:
			s.sendErrors(ctx)
		case <-due:
			due = nil
			wait = s.sendBatch(ctx)
			s.noteDrops()
		}
	}
}

// sender is RunRemote's state.
type sender struct {
	r         *remote
	o         RemoteOptions
	gap       time.Duration
	lastReset time.Time
	lastErrs  map[string]int64
	noted     uint64
	notedAt   time.Time
}

// sendBatch sends the oldest lines as one message and returns how long to wait before the next.
func (s *sender) sendBatch(ctx context.Context) time.Duration {
	batch := s.r.take(s.o.BatchLines)
	body, n, dps := encodeEntries(batch, s.o.MaxPayloadBytes)
	s.r.putBack(batch[n:])
	batch = batch[:n]
	err := s.o.Publish(ctx, body, dps)
	switch {
	case err == nil:
		s.r.sent.Add(uint64(len(batch)))
		return s.gap
	case errors.Is(err, ErrBusy), errors.Is(err, tbgateway.ErrNotConnected), ctx.Err() != nil:
		s.r.putBack(batch)
		return retryDelay
	}
	s.r.dropped.Add(uint64(len(batch)))
	return retryDelay
}

// noteDrops logs, at most once a minute, that lines were dropped.
func (s *sender) noteDrops() {
	d := s.r.dropped.Load()
	if d == s.noted || s.r.now().Sub(s.notedAt) < time.Minute {
		return
	}
	s.o.Log.Warn("remote logging: log lines were dropped (queue full or refused by ThingsBoard); data is not affected", "dropped", d-s.noted, "droppedTotal", d)
	s.noted, s.notedAt = d, s.r.now()
}

// sendErrors sends the error counters when remote logging is on and they changed since the last send.
func (s *sender) sendErrors(ctx context.Context) {
	r := s.r
	if r.mode.Load() != modeOn {
		return
	}
	r.errMu.Lock()
	if now := r.now(); now.Sub(s.lastReset) >= errorsResetPeriod {
		s.lastReset = now
		for k := range r.errs {
			r.errs[k] = 0
		}
		r.errsAll = 0
	}
	cur := maps.Clone(r.errs)
	cur["ALL_ERRORS_COUNT"] = r.errsAll
	r.errMu.Unlock()
	if maps.Equal(cur, s.lastErrs) {
		return
	}
	b := []byte{'{'}
	for i, k := range slices.Sorted(maps.Keys(cur)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = strconv.AppendInt(b, cur[k], 10)
	}
	b = append(b, '}')
	if s.o.Publish(ctx, b, len(cur)) == nil {
		s.lastErrs = cur
	}
}

// encodeEntries encodes the first lines of batch that fit in maxBytes (always at least one) and returns the
// body, how many lines it holds and their datapoints.
func encodeEntries(batch []entry, maxBytes int) (body []byte, n, dps int) {
	b := []byte{'['}
	for _, e := range batch {
		mark := len(b)
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"ts":`...)
		b = strconv.AppendInt(b, e.ts, 10)
		b = append(b, `,"values":{`...)
		b = appendJSONString(b, e.key)
		b = append(b, ':')
		b = appendJSONString(b, e.line)
		d := 1
		if e.logs {
			b = append(b, `,"LOGS":`...)
			b = appendJSONString(b, e.line)
			d++
		}
		b = append(b, "}}"...)
		if n > 0 && len(b)+1 > maxBytes {
			b = b[:mark]
			break
		}
		n++
		dps += d
	}
	return append(b, ']'), n, dps
}

// appendJSONString appends s as a JSON string (invalid UTF-8 becomes U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
