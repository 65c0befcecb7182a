package runtime_test

// The long-outage test: ThingsBoard is unreachable while a connector produces at a high rate, then the backlog
// drains, paced to the server's rate limits, while live data goes on flowing; with storage.liveFirst the live
// telemetry goes out beside the backlog, without it strictly behind.

import (
	"encoding/json"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/tbemu"
	"github.com/tbgateway/tbgateway/uplink"
)

var (
	outageLength = flag.Duration("outage", 3*time.Second, "how long ThingsBoard is unreachable in the backlog test (use 2m for the long run)")
	outageRate   = flag.Int("outage.rate", 1000, "records per second the connector produces in the backlog test")
)

// liveStorages are the storage sections the backlog test runs with; each has a live lane (tbgateway.LiveReader).
func liveStorages() map[string]map[string]any {
	return map[string]map[string]any{
		"memory": {"type": "memory", "max_records_count": 2_000_000},
		"sqlite": {"type": "sqlite", "data_file_path": "./data/"},
		"file":   {"type": "file", "data_folder_path": "./data/", "max_file_count": 50, "max_records_per_file": 100000},
	}
}

func TestE2EBacklogDrainsPacedBesideLiveData(t *testing.T) {
	for name, storage := range liveStorages() {
		for _, liveFirst := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/liveFirst=%v", name, liveFirst), func(t *testing.T) {
				// Batches of 100 records: the live lane takes turns with the backlog at that grain.
				st := map[string]any{"liveFirst": liveFirst, "read_records_count": 100}
				for k, v := range storage {
					st[k] = v
				}
				backlogRun(t, st, liveFirst)
			})
		}
	}
}

// backlogBase is the timestamp of record 0; record i has ts backlogBase+i and value i.
const backlogBase = int64(1_600_000_000_000)

// rateProducer sends records 0, 1, 2, ... to four devices at about rate records/s, in one Send per 10 ms.
type rateProducer struct {
	next atomic.Int64 // index of the next record to produce

	mu       sync.Mutex
	accepted []int64
	refused  int
	batches  []producedBatch
	stop     chan struct{}
	done     chan struct{}
}

// producedBatch is one Send: its first record and when the Send began.
type producedBatch struct {
	first int64
	at    time.Time
}

// producedBefore returns the index of the first record whose Send began at or after t: the records below it were
// handed to the gateway before t.
func (rp *rateProducer) producedBefore(t time.Time) int64 {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	for _, b := range rp.batches {
		if !b.at.Before(t) {
			return b.first
		}
	}
	return rp.next.Load()
}

func backlogRec(i int64) tbgateway.Record {
	return tbgateway.Record{Device: fmt.Sprintf("bl-%d", i%4),
		Telemetry: []tbgateway.Telemetry{{TS: backlogBase + i, Values: map[string]any{"v": i}}}}
}

func startRateProducer(t *testing.T, e *e2e, sink tbgateway.Sink, rate int) *rateProducer {
	rp := &rateProducer{stop: make(chan struct{}), done: make(chan struct{})}
	perTick := max(rate/100, 1)
	go func() {
		defer close(rp.done)
		tick := time.NewTicker(10 * time.Millisecond) // paces the load; it synchronises nothing
		defer tick.Stop()
		for {
			select {
			case <-rp.stop:
				return
			case <-e.ctx.Done():
				return
			case <-tick.C:
			}
			first := rp.next.Load()
			recs := make([]tbgateway.Record, perTick)
			for k := range recs {
				recs[k] = backlogRec(first + int64(k))
			}
			rp.mu.Lock()
			rp.batches = append(rp.batches, producedBatch{first: first, at: time.Now()})
			rp.mu.Unlock()
			err := sink.Send(e.ctx, recs...)
			rp.next.Add(int64(perTick))
			rp.mu.Lock()
			if err == nil {
				for k := range perTick {
					rp.accepted = append(rp.accepted, first+int64(k))
				}
			} else {
				rp.refused += perTick
			}
			rp.mu.Unlock()
		}
	}()
	t.Cleanup(rp.halt)
	return rp
}

func (rp *rateProducer) halt() {
	select {
	case <-rp.stop:
	default:
		close(rp.stop)
	}
	<-rp.done
}

// arrival is where a record showed up in the emulator's raw log.
type arrival struct {
	first int       // position of the first message that carried it
	at    time.Time // that message's time
	n     int       // how many accepted messages carried it
}

// backlogArrivals maps record index → arrival, from the accepted gateway telemetry messages.
func backlogArrivals(t *testing.T, msgs []tbemu.Message) map[int64]*arrival {
	t.Helper()
	out := map[int64]*arrival{}
	for pos, m := range msgs {
		if m.Topic != "v1/gateway/telemetry" || m.Reason != 0 {
			continue
		}
		var body map[string][]struct {
			TS int64 `json:"ts"`
		}
		if err := json.Unmarshal(m.Payload, &body); err != nil {
			t.Fatalf("gateway telemetry %s: %v", m.Payload, err)
		}
		for _, entries := range body {
			for _, en := range entries {
				i := en.TS - backlogBase
				if a := out[i]; a != nil {
					a.n++
				} else {
					out[i] = &arrival{first: pos, at: m.Time, n: 1}
				}
			}
		}
	}
	return out
}

func backlogRun(t *testing.T, storage map[string]any, liveFirst bool) {
	rate := *outageRate
	e := newE2ETimeout(t, testTimeout+3**outageLength)
	// Only the gateway device is limited, so that without live-first the dispatch is first in, first out.
	// Twice the production rate (the uplink uses 80% of it): the backlog drains at about 0.6 × rate beside the
	// live data, so the drain takes a while and its pacing shows.
	limit := fmt.Sprintf("%d:1", 2*rate)
	e.emu.SetRateLimits(tbemu.RateLimits{TelemetryDataPoints: limit}, tbemu.RateLimits{})
	p := newProbe(t, "producer")
	r := e.start(setup{connectors: []connSpec{p.conn()}, storage: storage})
	rp := startRateProducer(t, e, p.Sink(t, e.ctx), rate)
	e.waitFor("records before the outage", func() bool { return len(e.emu.Telemetry("bl-3", "v")) >= 10 })

	e.emu.RefuseConnections(*outageLength)
	e.emu.DropConnections()
	drop := r.waitEvent(t, e.ctx, uplink.EventDisconnected)
	reconnect := r.waitEvent(t, e.ctx, uplink.EventConnected)
	// The uplink starts the live lane before it announces the connection, so records handed over after the event's
	// time are live. Splitting by the event's own time, not by when this goroutine read it, keeps the split exact
	// however late the test runs.
	atDrop, backlogEnd := rp.producedBefore(drop.Time), rp.producedBefore(reconnect.Time)
	e.waitFor("the backlog at the emulator", func() bool {
		for _, dev := range []string{"bl-0", "bl-1", "bl-2", "bl-3"} {
			if len(e.emu.Telemetry(dev, "v")) < int(backlogEnd/4) {
				return false
			}
		}
		return true
	})
	drainedAt := rp.next.Load()
	e.eventually("live data after the drain", func() bool { return rp.next.Load() >= drainedAt+int64(rate/10) })
	rp.halt()

	rp.mu.Lock()
	accepted, refused := append([]int64(nil), rp.accepted...), rp.refused
	rp.mu.Unlock()
	if refused != 0 {
		t.Errorf("Send refused %d records", refused)
	}
	perDevice := map[string]int{}
	for _, i := range accepted {
		perDevice[backlogRec(i).Device]++
	}
	e.waitFor("every accepted record", func() bool {
		for dev, n := range perDevice {
			if len(e.emu.Telemetry(dev, "v")) < n {
				return false
			}
		}
		return true
	})
	msgs := e.emu.Messages()
	arr := backlogArrivals(t, msgs)
	for _, i := range accepted {
		if arr[i] == nil {
			t.Errorf("record %d accepted by Send never reached the emulator", i)
		}
	}
	for _, m := range msgs {
		if m.Reason >= 0x80 {
			t.Errorf("the emulator refused a message: 0x%02x on %s", m.Reason, m.Topic)
		}
	}
	for {
		select {
		case ev := <-r.gw.Link().Events():
			if ev.Type == uplink.EventDisconnected {
				t.Errorf("the link dropped while draining: %v", ev.Err)
			}
			continue
		default:
		}
		break
	}

	// Duplicates: only the records in flight when the link dropped, as the uplink counted them.
	dups := 0
	for i, a := range arr {
		if a.n > 1 {
			dups += a.n - 1
			if !a.at.Before(reconnect.Time) {
				t.Errorf("record %d arrived %d times, first after the reconnect", i, a.n)
			}
		}
	}
	st := r.gw.Stats().Uplink
	// Records in flight when the link dropped are sent again; those the emulator had not received yet (still in
	// the socket) are not duplicates, so the duplicates are at most the redelivered count.
	if uint64(dups) > st.Redelivered {
		t.Errorf("%d duplicate records at the emulator, more than the %d the uplink counted in flight", dups, st.Redelivered)
	}
	if st.RateLimited != 0 {
		t.Errorf("ThingsBoard answered %d PUBACKs with a rate limit", st.RateLimited)
	}

	// Order: the last backlog record against the records produced after the reconnect.
	lastBacklog, drained := -1, time.Time{}
	for i := range backlogEnd {
		if a := arr[i]; a != nil && a.first > lastBacklog {
			lastBacklog, drained = a.first, a.at
		}
	}
	firstAfter, firstAfterAt := len(msgs), time.Time{}
	for i, a := range arr {
		if i >= backlogEnd && a.first < firstAfter {
			firstAfter, firstAfterAt = a.first, a.at
		}
	}
	t.Logf("outage %v: %d records accepted, %d produced while the link was down; backlog drained %v after the reconnect "+
		"(server limit %s datapoints); first record produced after the reconnect arrived %v after it; %d duplicates; uplink %+v",
		*outageLength, len(accepted), backlogEnd-atDrop, drained.Sub(reconnect.Time).Round(time.Millisecond), limit,
		firstAfterAt.Sub(reconnect.Time).Round(time.Millisecond), dups, st)
	if liveFirst {
		if firstAfter >= lastBacklog {
			t.Errorf("live-first: the first record produced after the reconnect arrived in message %d, not before the last backlog record (message %d)", firstAfter, lastBacklog)
		}
	} else if firstAfter < lastBacklog {
		t.Errorf("without live-first a record produced after the reconnect arrived in message %d, before the last backlog record (message %d)", firstAfter, lastBacklog)
	}
}
