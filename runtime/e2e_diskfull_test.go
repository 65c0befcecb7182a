package runtime_test

// The disk-full test: sqlite storage on a 2 MB tmpfs while ThingsBoard is unreachable, so the store fills up.

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/storage/storagetest"
	"github.com/tbgateway/tbgateway/uplink"
)

// logRecorder is a slog.Handler that keeps the messages at Info and above.
type logRecorder struct {
	mu   *sync.Mutex
	msgs *[]string
}

func newLogRecorder() logRecorder { return logRecorder{mu: &sync.Mutex{}, msgs: new([]string)} }

func (h logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	*h.msgs = append(*h.msgs, r.Message)
	h.mu.Unlock()
	return nil
}
func (h logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logRecorder) WithGroup(string) slog.Handler      { return h }

// count returns how many messages start with prefix.
func (h logRecorder) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range *h.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// mountTmpfs mounts a tmpfs of size at a new folder and unmounts it when the test ends (storagetest.MountTmpfs:
// it fails in CI when it cannot). Call it before starting the gateway, so the unmount runs after the gateway stopped.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	return storagetest.MountTmpfs(t, size)
}

// paddedRec is a record of about 300 bytes.
func paddedRec(i int64) tbgateway.Record {
	return tbgateway.Record{Device: "df-dev", Telemetry: []tbgateway.Telemetry{{TS: 1000 + i,
		Values: map[string]any{"v": i, "pad": strings.Repeat("x", 250)}}}}
}

// arrivedTS returns the timestamps of df-dev's values at the emulator, read once: looking each of thousands of
// records up in a fresh copy of the series is quadratic, and took most of a loaded run's time bound.
func arrivedTS(e *e2e) map[int64]bool {
	at := map[int64]bool{}
	for _, p := range e.emu.Telemetry("df-dev", "v") {
		at[p.TS] = true
	}
	return at
}

const (
	fullLog   = "storage is full: new records are refused"
	roomLog   = "storage accepts new records again"
	dropLog   = "storage is full: the oldest records are dropped"
	undropLog = "storage has room again"
)

// TestE2EDiskFullRefuseNew fills a 2 MB tmpfs while ThingsBoard is unreachable: Send fails with ErrStorageFull
// (the connector sees it), the gateway logs it once and counts it; when ThingsBoard is back and the backlog is
// delivered, space returns and new records are accepted again.
func TestE2EDiskFullRefuseNew(t *testing.T) {
	for name, storage := range map[string]map[string]any{
		"sqlite": {"type": "sqlite"},
		"file":   {"type": "file", "max_file_count": 1000}, // a record bound far above what the disk holds
	} {
		t.Run(name, func(t *testing.T) {
			dir := mountTmpfs(t, "2m")
			storage["data_file_path"], storage["data_folder_path"] = dir+"/", dir
			diskFullRun(t, storage)
		})
	}
	// The same through a record bound, which needs no root: the gateway's side of it is the same.
	t.Run("memory-bound", func(t *testing.T) { diskFullRun(t, map[string]any{"type": "memory", "max_records_count": 500}) })
}

func diskFullRun(t *testing.T, storage map[string]any) {
	e := newE2E(t)
	logs := newLogRecorder()
	p := newProbe(t, "filler")
	r := e.start(setup{
		connectors: []connSpec{p.conn()},
		storage:    storage,
		opts:       runtime.Options{Logger: slog.New(logs)},
	})
	sink := p.Sink(t, e.ctx)
	p.send(t, e.ctx, paddedRec(0))
	e.waitFor("the first record", func() bool { _, ok := e.valueAt("df-dev", "v", 1000); return ok })

	e.emu.RefuseConnections(testTimeout)
	e.emu.DropConnections()
	r.waitEvent(t, e.ctx, uplink.EventDisconnected)
	next, failed := int64(1), 0
	const batch = 50
	for failed < 5 {
		recs := make([]tbgateway.Record, batch)
		for k := range recs {
			recs[k] = paddedRec(next + int64(k))
		}
		err := sink.Send(e.ctx, recs...)
		switch {
		case err == nil:
			next += batch
		case errors.Is(err, tbgateway.ErrStorageFull):
			failed++ // the connector sees the backpressure; the records of a refused Send are not stored
			if failed == 1 {
				t.Logf("disk full after %d records: %v", next, err)
			}
		default:
			t.Fatalf("Send: %v, want nil or an error wrapping ErrStorageFull", err)
		}
		if next > 100_000 {
			t.Fatal("the storage never filled up")
		}
	}
	st := r.gw.Stats()
	if !st.StorageState.Full || st.StorageState.FullEpisodes != 1 || st.Storage.Refused != 5*batch ||
		st.Connectors["filler"].StorageErrors != 5 {
		t.Errorf("stats on a full disk: state %+v, storage %+v, connector %+v; want full once, %d refused, 5 errors",
			st.StorageState, st.Storage, st.Connectors["filler"], 5*batch)
	}
	if n := logs.count(fullLog); n != 1 {
		t.Errorf("%q logged %d times for 5 refused Sends, want once", fullLog, n)
	}

	e.emu.RefuseConnections(0)
	r.waitEvent(t, e.ctx, uplink.EventConnected)
	e.waitFor("the backlog", func() bool { return len(e.emu.Telemetry("df-dev", "v")) >= int(next) })
	e.eventually("an empty store", func() bool { return r.gw.Stats().Storage.Count == 0 })
	// Room again: new records are stored and delivered. Space may come back a little after the last ack (a
	// file store deletes its segments at its next checkpoint), so the first Sends may still be refused.
	e.eventually("a Send accepted after the recovery", func() bool {
		err := sink.Send(e.ctx, paddedRec(next))
		if err != nil && !errors.Is(err, tbgateway.ErrStorageFull) {
			t.Fatalf("Send after the recovery: %v", err)
		}
		return err == nil
	})
	p.send(t, e.ctx, paddedRec(next+1), paddedRec(next+2))
	e.waitFor("the records after the recovery", func() bool { _, ok := e.valueAt("df-dev", "v", 1000+next+2); return ok })
	at := arrivedTS(e)
	for i := range next + 3 {
		if !at[1000+i] {
			t.Errorf("accepted record %d is missing at the emulator", i)
		}
	}
	got := gatewayRPC[runtime.Stats](e, "gateway_stats", nil).Resp
	if got.StorageState.Full || got.StorageState.FullEpisodes != 1 || got.Storage.Refused < 5*batch {
		t.Errorf("gateway_stats after the recovery: state %+v, storage %+v", got.StorageState, got.Storage)
	}
	if a, b := logs.count(fullLog), logs.count(roomLog); a != 1 || b != 1 {
		t.Errorf("logged %q %d times and %q %d times, want once each", fullLog, a, roomLog, b)
	}
	t.Logf("gateway_stats: %+v %+v", got.StorageState, got.Storage)
}

// TestE2EStorageFullDropOldest fills a store bounded below its tmpfs with the drop-oldest policy while
// ThingsBoard is unreachable: Send never fails, the oldest records are dropped, counted and logged once; after
// the outage every record not dropped arrives, and the gateway says once that it drops no more.
func TestE2EStorageFullDropOldest(t *testing.T) {
	for name, c := range map[string]struct {
		tmpfs   string
		storage map[string]any
	}{
		// 256 KB of records; the tmpfs leaves room for the reserve file and the WAL (checkpointed at 256 KB).
		"sqlite": {"2m", map[string]any{"type": "sqlite", "size_limit": 0.25, "max_db_amount": 1}},
		"file":   {"2m", map[string]any{"type": "file", "max_file_count": 2, "max_records_per_file": 1000}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := mountTmpfs(t, c.tmpfs)
			c.storage["data_file_path"], c.storage["data_folder_path"] = dir+"/", dir
			c.storage["fullPolicy"] = "drop-oldest"
			dropOldestRun(t, c.storage)
		})
	}
	t.Run("memory-bound", func(t *testing.T) {
		dropOldestRun(t, map[string]any{"type": "memory", "max_records_count": 500, "fullPolicy": "drop-oldest"})
	})
}

func dropOldestRun(t *testing.T, storage map[string]any) {
	e := newE2E(t)
	logs := newLogRecorder()
	p := newProbe(t, "filler")
	r := e.start(setup{connectors: []connSpec{p.conn()}, storage: storage, opts: runtime.Options{Logger: slog.New(logs)}})
	p.send(t, e.ctx, paddedRec(0))
	e.waitFor("the first record", func() bool { _, ok := e.valueAt("df-dev", "v", 1000); return ok })
	// Its PUBACK must have been handled too: a record still in storage when the store overflows is dropped (and
	// counted) even though it already arrived, which would spoil the sum below.
	e.eventually("the first record acknowledged", func() bool { return r.gw.Stats().Storage.Count == 0 })

	e.emu.RefuseConnections(testTimeout)
	e.emu.DropConnections()
	r.waitEvent(t, e.ctx, uplink.EventDisconnected)
	next := int64(1)
	const batch = 50
	for r.gw.Stats().Storage.Dropped < 5*batch {
		recs := make([]tbgateway.Record, batch)
		for k := range recs {
			recs[k] = paddedRec(next + int64(k))
		}
		p.send(t, e.ctx, recs...) // never refused under drop-oldest
		next += batch
		if next > 100_000 {
			t.Fatal("the store never dropped a record")
		}
	}
	st := r.gw.Stats()
	if !st.StorageState.Dropping || st.StorageState.DropEpisodes != 1 || st.Storage.Refused != 0 {
		t.Errorf("stats while dropping: state %+v, storage %+v", st.StorageState, st.Storage)
	}
	if n := logs.count(dropLog); n != 1 {
		t.Errorf("%q logged %d times, want once", dropLog, n)
	}
	e.emu.RefuseConnections(0)
	r.waitEvent(t, e.ctx, uplink.EventConnected)
	e.eventually("an empty store", func() bool { return r.gw.Stats().Storage.Count == 0 })
	p.send(t, e.ctx, paddedRec(next))
	e.waitFor("the record after the recovery", func() bool { _, ok := e.valueAt("df-dev", "v", 1000+next); return ok })
	dropped := r.gw.Stats().Storage.Dropped
	arrived := int64(0)
	at := arrivedTS(e)
	for i := range next + 1 {
		if at[1000+i] {
			arrived++
		}
	}
	if arrived+int64(dropped) != next+1 {
		t.Errorf("%d records accepted, %d arrived, %d counted as dropped: they do not add up", next+1, arrived, dropped)
	}
	if a, b := logs.count(dropLog), logs.count(undropLog); a != 1 || b != 1 {
		t.Errorf("logged %q %d times and %q %d times, want once each", dropLog, a, undropLog, b)
	}
	t.Logf("%d records accepted, %d dropped (oldest first), %d delivered; storage %+v", next+1, dropped, arrived, r.gw.Stats().Storage)
}
