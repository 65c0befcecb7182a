package devicefault_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tbgateway/tbgateway/internal/devicefault"
)

// line is one captured log record: level, message and attributes as text.
type line struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// capture is a slog.Handler that keeps every record at or above its level.
type capture struct {
	min   slog.Level
	mu    sync.Mutex
	lines []line
}

func (c *capture) Enabled(_ context.Context, l slog.Level) bool { return l >= c.min }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	ln := line{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		ln.attrs[a.Key] = a.Value.String()
		return true
	})
	c.mu.Lock()
	c.lines = append(c.lines, ln)
	c.mu.Unlock()
	return nil
}
func (c *capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *capture) WithGroup(string) slog.Handler      { return c }

func (c *capture) take() []line {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.lines
	c.lines = nil
	return out
}

// summary renders lines as "LEVEL msg key=..." using the "key" attribute the tests pass.
func summary(lines []line) []string {
	var out []string
	for _, l := range lines {
		out = append(out, fmt.Sprintf("%s %s %s", l.level, l.msg, l.attrs["key"]))
	}
	return out
}

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

var errRefused = errors.New("illegal data address")

// TestLogsOncePerStateChange: repeated faults of a key log one warning, repeated successes one info line, and
// each key has its own state; every fault is counted.
func TestLogsOncePerStateChange(t *testing.T) {
	h := &capture{min: slog.LevelInfo}
	tr := devicefault.New(slog.New(h), devicefault.Options{})
	fail := func(k string) bool { return tr.Fail(k, errRefused, "key", k) }

	if !fail("a") || fail("a") || fail("a") {
		t.Error("Fail should report a start only for the first fault of an episode")
	}
	if !fail("b") {
		t.Error("another key's first fault is a start of its own")
	}
	if !tr.OK("a") || tr.OK("a") || tr.OK("c") {
		t.Error("OK should report a recovery only once, and only for a failing key")
	}
	fail("a")
	want := []string{"WARN device fault a", "WARN device fault b", "INFO device fault cleared a", "WARN device fault a"}
	got := h.take()
	if !equal(summary(got), want) {
		t.Fatalf("log lines:\n got %q\nwant %q", summary(got), want)
	}
	if got[0].attrs["err"] != errRefused.Error() {
		t.Errorf("start line should carry the error: %v", got[0].attrs)
	}
	if got[2].attrs["faults"] != "3" {
		t.Errorf("recovery line should count the episode's 3 faults: %v", got[2].attrs)
	}
	if st := tr.Stats(); st.Faults != 5 || st.Active != 2 {
		t.Errorf("Stats = %+v, want 5 faults, 2 active", st)
	}
	if !tr.Failing("a") || !tr.Failing("b") || tr.Failing("c") {
		t.Error("Failing disagrees with the episodes")
	}
}

// TestRepeatsAtDebug: a repeated fault is logged at debug level with the running count, never above it.
func TestRepeatsAtDebug(t *testing.T) {
	h := &capture{min: slog.LevelDebug}
	tr := devicefault.New(slog.New(h), devicefault.Options{})
	tr.Fail("a", errRefused, "key", "a")
	tr.Fail("a", errRefused, "key", "a")
	got := h.take()
	if len(got) != 2 || got[1].level != slog.LevelDebug || got[1].attrs["faults"] != "2" {
		t.Fatalf("want a warning then a debug repeat with faults=2, got %+v", got)
	}
}

// TestRecoveryLineNamesEpisode: the recovery line repeats what the start named and tells how long the key
// failed, on the fake clock.
func TestRecoveryLineNamesEpisode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &capture{min: slog.LevelInfo}
		tr := devicefault.New(slog.New(h), devicefault.Options{})
		tr.Fail("dev\x00fc3:40", errRefused, "device", "boiler", "address", 40)
		time.Sleep(90 * time.Second)
		tr.Fail("dev\x00fc3:40", errRefused, "device", "boiler", "address", 40)
		tr.OK("dev\x00fc3:40")
		got := h.take()
		if len(got) != 2 {
			t.Fatalf("want a start and a recovery line, got %+v", got)
		}
		r := got[1]
		if r.msg != "device fault cleared" || r.attrs["device"] != "boiler" || r.attrs["address"] != "40" ||
			r.attrs["faults"] != "2" || r.attrs["failedFor"] != "1m30s" {
			t.Errorf("recovery line = %q %v", r.msg, r.attrs)
		}
	})
}

// TestBoundedKeys: at most MaxKeys failing keys are kept; the one whose last fault is oldest is forgotten (no
// recovery line), the overflow is warned about once, and a forgotten key that fails again starts a new episode.
func TestBoundedKeys(t *testing.T) {
	h := &capture{min: slog.LevelInfo}
	tr := devicefault.New(slog.New(h), devicefault.Options{MaxKeys: 3})
	fail := func(k string) bool { return tr.Fail(k, errRefused, "key", k) }
	for _, k := range []string{"k1", "k2", "k3", "k1"} {
		fail(k)
	}
	h.take()
	fail("k4") // k2's last fault is the oldest
	if tr.Failing("k2") || !tr.Failing("k1") || !tr.Failing("k3") || !tr.Failing("k4") {
		t.Fatal("the key with the oldest last fault (k2) should have been forgotten")
	}
	fail("k5") // then k3
	if tr.Failing("k3") {
		t.Fatal("k3 should have been forgotten next")
	}
	if st := tr.Stats(); st.Active != 3 || st.Faults != 6 {
		t.Errorf("Stats = %+v, want 3 active of 6 faults", st)
	}
	got := summary(h.take())
	if len(got) != 3 || got[0] != "WARN more devices, addresses or topics are failing than are tracked; the longest quiet are forgotten and logged again if they fail again " ||
		got[1] != "WARN device fault k4" || got[2] != "WARN device fault k5" {
		t.Fatalf("want one overflow warning and the two starts, got %q", got)
	}
	if tr.OK("k2") {
		t.Error("a forgotten key has no episode to end")
	}
	if !fail("k2") { // forgets k1
		t.Error("a forgotten key failing again starts a new episode")
	}
	h.take()
	tr.OK("k4")
	tr.OK("k5") // one key left: at most half the cap, so a new overflow is warned about again
	for _, k := range []string{"k6", "k7", "k8"} {
		fail(k)
	}
	got = summary(h.take())
	if len(got) != 6 || !strings.HasPrefix(got[4], "WARN more devices") {
		t.Fatalf("want two recoveries, three starts and one more overflow warning before k8's start, got %q", got)
	}
}

// TestConcurrent: many goroutines failing and recovering their own keys count every fault and end with the
// right episodes (run with -race).
func TestConcurrent(t *testing.T) {
	tr := devicefault.New(nil, devicefault.Options{})
	const workers, rounds = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			k := fmt.Sprint("key", w)
			for i := range rounds {
				tr.Fail(k, errRefused)
				if i%2 == 0 {
					tr.OK(k)
				}
			}
		})
	}
	wg.Wait()
	if st := tr.Stats(); st.Faults != workers*rounds || st.Active != workers {
		t.Errorf("Stats = %+v, want %d faults and %d active", st, workers*rounds, workers)
	}
}
