package runtime

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
)

func TestStamperStrictlyIncreasingPerDevice(t *testing.T) {
	s := NewStamper()
	now := time.UnixMilli(1_700_000_000_000)
	var got []int64
	for i := 0; i < 5; i++ {
		r := tbgateway.Record{Device: "A", Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"t": int64(i)}}, {Values: map[string]any{"h": int64(i)}}}}
		s.Stamp(&r, now) // the same millisecond every time
		if r.Telemetry[0].TS != r.Telemetry[1].TS {
			t.Fatalf("one message got two timestamps: %d and %d", r.Telemetry[0].TS, r.Telemetry[1].TS)
		}
		got = append(got, r.Telemetry[0].TS)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("timestamps not strictly increasing by one within one millisecond: %v", got)
		}
	}
	other := tbgateway.Record{Device: "B", Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"t": int64(1)}}}}
	s.Stamp(&other, now)
	if other.Telemetry[0].TS != now.UnixMilli() {
		t.Fatalf("device B was pushed by device A's stamps: %d", other.Telemetry[0].TS)
	}
}

func TestStamperKeepsDeviceTimestamps(t *testing.T) {
	s := NewStamper()
	r := tbgateway.Record{Device: "A", Telemetry: []tbgateway.Telemetry{{TS: 42, Values: map[string]any{"t": 1.5}}, {Values: map[string]any{"t": 2.5}}}}
	s.Stamp(&r, time.UnixMilli(1000))
	if r.Telemetry[0].TS != 42 || r.Telemetry[1].TS != 1000 {
		t.Fatalf("got %d, %d; want 42 (device's own) and 1000 (stamped)", r.Telemetry[0].TS, r.Telemetry[1].TS)
	}
}

// stampAt stamps one message of device at now and returns its timestamp.
func stampAt(t *testing.T, s *Stamper, device string, now time.Time) int64 {
	t.Helper()
	r := tbgateway.Record{Device: device, Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"v": int64(1)}}}}
	if err := s.Stamp(&r, now); err != nil {
		t.Fatal(err)
	}
	return r.Telemetry[0].TS
}

// logTo returns a logger writing text lines to buf.
func logTo(buf *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(buf, nil)) }

func TestStamperStateSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), StamperStateFile)
	var logs bytes.Buffer
	s := OpenStamper(path, logTo(&logs))
	defer s.Close() // closed only at the end: the restart below happens without it, as after kill -9
	now := time.UnixMilli(1_700_000_000_000)
	highest := int64(0)
	for range 50 { // a burst of one device within one millisecond: its stamps run 49 ms ahead of the clock
		highest = max(highest, stampAt(t, s, "A", now))
	}
	if highest != now.UnixMilli()+49 {
		t.Fatalf("highest stamp of the burst %d, want %d", highest, now.UnixMilli()+49)
	}
	// A restart 10 ms later without Close (as after kill -9): the new Stamper knows nothing of device A but its file.
	s2 := OpenStamper(path, logTo(&logs))
	defer s2.Close()
	later := now.Add(10 * time.Millisecond)
	for _, dev := range []string{"A", "B"} {
		if ts := stampAt(t, s2, dev, later); ts <= highest {
			t.Fatalf("after the restart device %s got %d, not above %d given out before", dev, ts, highest)
		}
	}
	if ts := stampAt(t, s2, "A", later); ts <= highest+1 {
		t.Fatalf("device A's second stamp after the restart %d is not above its first", ts)
	}
	if logs.Len() != 0 {
		t.Fatalf("a missing state file (first start) or a valid one was logged: %s", logs.String())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestStamperNoWriteWhileFollowingTheClock(t *testing.T) {
	path := filepath.Join(t.TempDir(), StamperStateFile)
	s := OpenStamper(path, logTo(new(bytes.Buffer)))
	defer s.Close()
	now := time.UnixMilli(1_700_000_000_000)
	for i := range 100 { // one message per millisecond per device: every stamp is the clock
		stampAt(t, s, "A", now.Add(time.Duration(i)*time.Millisecond))
		stampAt(t, s, "B", now.Add(time.Duration(i)*time.Millisecond))
	}
	if b, err := os.ReadFile(path); err != nil || len(b) != 0 {
		t.Fatalf("stamps following the clock wrote the state file: %q, %v", b, err)
	}
	stampAt(t, s, "A", now.Add(99*time.Millisecond)) // one stamp ahead: saved
	saved, err := os.ReadFile(path)
	if err != nil || len(saved) == 0 {
		t.Fatalf("a stamp ahead of the clock was not saved: %q, %v", saved, err)
	}
	for i := range 100 {
		stampAt(t, s, "A", now.Add(time.Duration(200+i)*time.Millisecond))
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, saved) {
		t.Fatalf("stamps following the clock rewrote the state file: %q, was %q", b, saved)
	}
}

func TestStamperCorruptState(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	valid := filepath.Join(t.TempDir(), StamperStateFile)
	s := OpenStamper(valid, logTo(new(bytes.Buffer)))
	stampAt(t, s, "A", now)
	stampAt(t, s, "A", now) // saves now+1
	s.Close()
	record, err := os.ReadFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	badSum := bytes.Clone(record)
	badSum[19]++ // a digit changed: the checksum no longer matches
	for name, content := range map[string][]byte{
		"garbage":      []byte("not a timestamp\n"),
		"torn":         record[:10],
		"checksum":     badSum,
		"trailing":     append(bytes.Clone(record), 'x'),
		"not a number": []byte("0000000000000000000x 00000000\n"),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), StamperStateFile)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			s := OpenStamper(path, logTo(&logs))
			defer s.Close()
			if !strings.Contains(logs.String(), path) {
				t.Fatalf("a corrupt state file was not logged with its path: %q", logs.String())
			}
			if ts := stampAt(t, s, "A", now); ts != now.UnixMilli() {
				t.Fatalf("after a corrupt state file the stamp is %d, want the clock %d", ts, now.UnixMilli())
			}
			// The Stamper still saves: the next start gets a valid floor.
			ahead := stampAt(t, s, "A", now)
			s3 := OpenStamper(path, logTo(new(bytes.Buffer)))
			defer s3.Close()
			if ts := stampAt(t, s3, "A", now); ts <= ahead {
				t.Fatalf("the state rewritten after corruption gave %d, not above %d", ts, ahead)
			}
		})
	}
}

func TestStamperStateRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, StamperStateFile)
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s := OpenStamper(path, logTo(&logs))
	defer s.Close()
	if !strings.Contains(logs.String(), path) {
		t.Fatalf("a state file that is a symbolic link was not logged: %q", logs.String())
	}
	now := time.UnixMilli(1_700_000_000_000)
	stampAt(t, s, "A", now)
	stampAt(t, s, "A", now) // ahead of the clock: would be saved
	if b, _ := os.ReadFile(target); len(b) != 0 {
		t.Fatalf("the stamper wrote through a symbolic link: %q", b)
	}
}

func TestStamperFailsWhenTheMarkCannotBeSaved(t *testing.T) {
	path := filepath.Join(t.TempDir(), StamperStateFile)
	s := OpenStamper(path, logTo(new(bytes.Buffer)))
	now := time.UnixMilli(1_700_000_000_000)
	first := stampAt(t, s, "A", now) // the clock: nothing to save
	s.Close()                        // every save fails from now on
	r := tbgateway.Record{Device: "A", Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"v": int64(2)}}}}
	err := s.Stamp(&r, now) // ahead of the clock: must be saved first
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("a stamp ahead of the clock that could not be saved gave err %v, want an error naming %s", err, path)
	}
	if r.Telemetry[0].TS != 0 {
		t.Fatalf("the failed stamp changed the record: ts %d", r.Telemetry[0].TS)
	}
	if ts := stampAt(t, s, "A", now.Add(time.Millisecond)); ts != first+1 {
		t.Fatalf("after the failed stamp device A got %d, want %d (the failed one given back)", ts, first+1)
	}
}
