package logging

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/tbgateway/tbgateway"
)

// lumberjack runs one goroutine per file for the life of the process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"))
}

// fakeTB records what remote logging publishes; err, when set, is returned instead of accepting.
type fakeTB struct {
	mu     sync.Mutex
	bodies [][]byte
	at     []time.Time
	err    error
	got    chan struct{}
}

func newFakeTB() *fakeTB { return &fakeTB{got: make(chan struct{}, 1<<16)} }

func (f *fakeTB) publish(ctx context.Context, body []byte, dps int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.bodies = append(f.bodies, append([]byte(nil), body...))
	f.at = append(f.at, time.Now())
	f.got <- struct{}{}
	return nil
}

func (f *fakeTB) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

// entries decodes every published log entry, in order.
func (f *fakeTB) entries(t *testing.T) []map[string]string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]string
	for _, b := range f.bodies {
		if b[0] != '[' {
			continue
		}
		var es []struct {
			TS     int64             `json:"ts"`
			Values map[string]string `json:"values"`
		}
		if err := json.Unmarshal(b, &es); err != nil {
			t.Fatalf("published %s: %v", b, err)
		}
		for _, e := range es {
			if e.TS == 0 {
				t.Errorf("entry without ts in %s", b)
			}
			out = append(out, e.Values)
		}
	}
	return out
}

// counters decodes the published error-counter objects, in order.
func (f *fakeTB) counters(t *testing.T) []map[string]int64 {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]int64
	for _, b := range f.bodies {
		if b[0] != '{' {
			continue
		}
		var m map[string]int64
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("published %s: %v", b, err)
		}
		out = append(out, m)
	}
	return out
}

// run starts RunRemote with f and returns a stop function that waits for it.
func run(l *Logs, f *fakeTB, o RemoteOptions) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	o.Publish = f.publish
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.RunRemote(ctx, o)
	}()
	return func() { cancel(); <-done }
}

func TestRemoteLinesInThePythonKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := Wrap(slog.DiscardHandler)
		log := l.Logger()
		l.SetConnector("Meter Bus", nil, true)
		l.SetConnector("Quiet", nil, false)
		l.SetRemoteLevel(slog.LevelInfo)
		f := newFakeTB()
		stop := run(l, f, RemoteOptions{})
		log.Info("service line", "n", 1)
		log.Debug("below the remote level")
		log.With("component", "uplink").Warn("connection line")
		log.With("component", "storage").Error("storage line")
		log.With("component", "extension").Info("extension line")
		log.With("connector", "Meter Bus", "type", "modbus").Info("connector line")
		log.With("connector", "Quiet").Error("not streamed: enableRemoteLogging is off")
		for l.RemoteStats().Queued > 0 {
			time.Sleep(time.Second)
		}
		stop()
		got := f.entries(t)
		want := []struct{ key, level, text string }{
			{"SERVICE_LOGS", "|INFO|<service>", "service line n=1"},
			{"CONNECTION_LOGS", "|WARNING|<tb_connection>", "connection line component=uplink"},
			{"STORAGE_LOGS", "|ERROR|<storage>", "storage line component=storage"},
			{"EXTENSION_LOGS", "|INFO|<extension>", "extension line"},
			{"Meter Bus_LOGS", "|INFO|<Meter Bus>", "connector line connector=\"Meter Bus\" type=modbus"},
		}
		if len(got) != len(want) {
			t.Fatalf("published %d entries, want %d: %v", len(got), len(want), got)
		}
		for i, w := range want {
			line := got[i][w.key]
			if !strings.Contains(line, w.level) || !strings.Contains(line, w.text) || !strings.Contains(line, "[remote_test.go]") {
				t.Errorf("entry %d: %s = %q, want %q and %q from remote_test.go", i, w.key, line, w.level, w.text)
			}
			wantKeys := 1
			if w.key != "Meter Bus_LOGS" {
				wantKeys = 2
				if got[i]["LOGS"] != line {
					t.Errorf("entry %d: LOGS = %q, want the %s line", i, got[i]["LOGS"], w.key)
				}
			}
			if len(got[i]) != wantKeys {
				t.Errorf("entry %d has keys %v, want %d", i, got[i], wantKeys)
			}
		}
	})
}

func TestRemoteNoneStopsAndUnsetStreamsOnlyConnectors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := Wrap(slog.DiscardHandler)
		log := l.Logger()
		l.SetConnector("C", nil, true)
		f := newFakeTB()
		stop := run(l, f, RemoteOptions{})
		log.Error("service line before any RemoteLoggingLevel")
		log.With("connector", "C").Info("connector line before any RemoteLoggingLevel")
		time.Sleep(2 * time.Second) // the fake clock: every send due has happened
		if got := f.entries(t); len(got) != 1 || got[0]["C_LOGS"] == "" {
			t.Fatalf("without RemoteLoggingLevel: %v, want only the connector's line", got)
		}
		l.SetRemoteLevel(LevelNone)
		log.Error("service line after NONE")
		log.With("connector", "C").Error("connector line after NONE")
		time.Sleep(2 * time.Second) // the fake clock: every send due has happened
		stop()
		if got := f.entries(t); len(got) != 1 {
			t.Fatalf("after NONE: %v, want nothing more", got)
		}
	})
}

// The queue is bounded: lines beyond it drop the oldest, every drop counted; what is kept is sent once the link
// is back.
func TestRemoteQueueBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := Wrap(slog.DiscardHandler)
		l.SetRemoteLevel(LevelTrace)
		f := newFakeTB()
		f.setErr(fmt.Errorf("publish: %w", tbgateway.ErrNotConnected))
		stop := run(l, f, RemoteOptions{})
		defer stop()
		log := l.Logger()
		const flood = 3 * DefaultQueueLines
		for i := range flood {
			log.Debug("flood", "i", i)
		}
		synctest.Wait()
		st := l.RemoteStats()
		if st.Queued != DefaultQueueLines || st.Dropped != flood-DefaultQueueLines {
			t.Fatalf("after %d lines with the link down: %+v, want %d queued and %d dropped", flood, st, DefaultQueueLines, flood-DefaultQueueLines)
		}
		f.setErr(nil)
		for l.RemoteStats().Queued > 0 {
			time.Sleep(time.Second)
		}
		got := f.entries(t)
		if len(got) != DefaultQueueLines {
			t.Fatalf("sent %d lines, want the %d kept", len(got), DefaultQueueLines)
		}
		if first := got[0]["SERVICE_LOGS"]; !strings.HasSuffix(first, fmt.Sprintf("i=%d", flood-DefaultQueueLines)) {
			t.Errorf("first line sent %q, want the oldest kept (i=%d)", first, flood-DefaultQueueLines)
		}
	})
}

// Remote logging sends at most MessagesPerSecond messages of at most BatchLines lines and MaxPayloadBytes.
func TestRemoteRateAndBatchBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := Wrap(slog.DiscardHandler)
		l.SetRemoteLevel(LevelTrace)
		f := newFakeTB()
		stop := run(l, f, RemoteOptions{MaxPayloadBytes: 4000})
		log := l.Logger()
		for i := range DefaultQueueLines {
			log.Info("flood", "i", i)
		}
		for l.RemoteStats().Queued > 0 {
			time.Sleep(time.Second)
		}
		stop()
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.bodies) < DefaultQueueLines/DefaultBatchLines {
			t.Fatalf("%d messages for %d lines", len(f.bodies), DefaultQueueLines)
		}
		var at []time.Time // the log messages' times (the error counters come on top)
		for i, b := range f.bodies {
			if len(b) > 4000 {
				t.Errorf("message %d: %d bytes, over MaxPayloadBytes", i, len(b))
			}
			if n := strings.Count(string(b), `"ts":`); n > DefaultBatchLines {
				t.Errorf("message %d: %d lines, over %d", i, n, DefaultBatchLines)
			}
			if b[0] == '[' {
				at = append(at, f.at[i])
			}
		}
		// In any second, at most DefaultMessagesPerSecond messages.
		for i := range at {
			if j := i + DefaultMessagesPerSecond; j < len(at) && at[j].Sub(at[i]) < time.Second {
				t.Fatalf("log messages %d..%d sent within %v", i, j, at[j].Sub(at[i]))
			}
		}
	})
}

func TestRemoteBusyKeepsLinesAndRefusedDropsThem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := Wrap(slog.DiscardHandler)
		l.SetRemoteLevel(slog.LevelInfo)
		f := newFakeTB()
		f.setErr(ErrBusy)
		stop := run(l, f, RemoteOptions{})
		defer stop()
		l.Logger().Info("kept while busy")
		synctest.Wait()
		if st := l.RemoteStats(); st.Queued != 1 || st.Dropped != 0 {
			t.Fatalf("busy: %+v, want the line kept", st)
		}
		f.setErr(fmt.Errorf("thingsboard answered 0x97"))
		time.Sleep(2 * retryDelay)
		if st := l.RemoteStats(); st.Queued != 0 || st.Dropped != 1 {
			t.Fatalf("refused: %+v, want the line dropped and counted", st)
		}
	})
}

func TestRemoteErrorCounters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := Wrap(slog.DiscardHandler)
		log := l.Logger()
		f := newFakeTB()
		stop := run(l, f, RemoteOptions{})
		defer stop()
		log.Error("before remote logging is on")
		time.Sleep(errorsSendPeriod + time.Millisecond)
		if c := f.counters(t); len(c) != 0 {
			t.Fatalf("counters sent without RemoteLoggingLevel: %v", c)
		}
		l.SetRemoteLevel(LevelNone + 0) // NONE
		l.SetRemoteLevel(LevelCritical)
		log.With("component", "uplink").Error("link error")
		log.With("connector", "M").Error("connector error")
		time.Sleep(errorsSendPeriod)
		want := map[string]int64{"service_ERRORS_COUNT": 1, "tb_connection_ERRORS_COUNT": 1, "M_ERRORS_COUNT": 1, "ALL_ERRORS_COUNT": 3}
		c := f.counters(t)
		if len(c) != 1 || fmt.Sprint(c[0]) != fmt.Sprint(want) {
			t.Fatalf("counters %v, want one %v", c, want)
		}
		time.Sleep(2 * errorsSendPeriod)
		if c := f.counters(t); len(c) != 1 {
			t.Fatalf("unchanged counters sent again: %v", c)
		}
		time.Sleep(errorsResetPeriod)
		c = f.counters(t)
		if last := c[len(c)-1]; len(c) != 2 || last["ALL_ERRORS_COUNT"] != 0 || last["M_ERRORS_COUNT"] != 0 {
			t.Fatalf("after a minute: %v, want the counters reset to 0 once", c)
		}
	})
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"NONE": LevelNone, "critical": LevelCritical, "FATAL": LevelCritical, "ERROR": slog.LevelError,
		"WARNING": slog.LevelWarn, "warn": slog.LevelWarn, "INFO": slog.LevelInfo, "DEBUG": slog.LevelDebug,
		"TRACE": LevelTrace, "NOTSET": LevelAll, "10": slog.LevelDebug, "5": LevelTrace, "0": LevelAll, "100": LevelNone,
	} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseLevel("LOUD"); err == nil || !strings.Contains(err.Error(), "LOUD") {
		t.Errorf("ParseLevel(LOUD) = %v, want an error naming it", err)
	}
}
