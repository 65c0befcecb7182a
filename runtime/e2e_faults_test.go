package runtime_test

// End-to-end tests under faults: failing connectors, a ThingsBoard outage under load, and the statistics
// telemetry of the gateway device.

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
	"github.com/tbgateway/tbgateway/uplink"
)

func TestE2EFailingConnectorsDoNotStopOthers(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "steady")
	r := e.start(setup{
		connectors: []connSpec{
			{Type: failType, Name: "crasher", Conf: map[string]any{"mode": "error"}},
			p.conn(),
			{Type: failType, Name: "panicker", Conf: map[string]any{"mode": "panic"}},
		},
		opts: runtime.Options{ConnectorBackoff: backoff.Policy{Initial: time.Millisecond, Max: 5 * time.Millisecond}},
	})
	restarts := func(name string) uint64 { return r.gw.Stats().Connectors[name].Restarts }
	for i := range uint64(5) {
		e.eventually(fmt.Sprintf("restart %d of the failing connectors", i+1), func() bool {
			return restarts("crasher") > i && restarts("panicker") > i
		})
		ts := int64(1000 + i)
		p.send(t, e.ctx, dataRec("steady-dev", ts))
		e.waitFor(fmt.Sprintf("steady data at %d", ts), func() bool { _, ok := e.valueAt("steady-dev", "v", ts); return ok })
	}
	if n := restarts("steady"); n != 0 {
		t.Errorf("the healthy connector was restarted %d times", n)
	}
	// The failing connectors go on being restarted.
	before := restarts("crasher")
	e.eventually("more restarts", func() bool { return restarts("crasher") > before })
}

// outageRecord is a record the load producer had accepted by Send.
type outageRecord struct {
	device string
	ts     int64
}

// loadProducer sends one record per tick to three devices until stopped, and remembers what Send accepted.
type loadProducer struct {
	mu       sync.Mutex
	accepted []outageRecord
	refused  int
	stop     chan struct{}
	done     chan struct{}
}

func startLoad(t *testing.T, e *e2e, sink tbgateway.Sink) *loadProducer {
	lp := &loadProducer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(lp.done)
		// The ticker paces the load (about 1000 records/s); it synchronises nothing.
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := int64(0); ; i++ {
			select {
			case <-lp.stop:
				return
			case <-e.ctx.Done():
				return
			case <-tick.C:
			}
			rec := outageRecord{device: fmt.Sprintf("load-%d", i%3), ts: 1_000_000 + i}
			err := sink.Send(e.ctx, dataRec(rec.device, rec.ts))
			lp.mu.Lock()
			if err == nil {
				lp.accepted = append(lp.accepted, rec)
			} else {
				lp.refused++
			}
			lp.mu.Unlock()
		}
	}()
	t.Cleanup(lp.halt)
	return lp
}

func (lp *loadProducer) count() int {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return len(lp.accepted)
}

// halt stops the producer and waits for it; idempotent.
func (lp *loadProducer) halt() {
	select {
	case <-lp.stop:
	default:
		close(lp.stop)
	}
	<-lp.done
}

// gatewayTelemetryEntries counts, per (device, ts), the telemetry entries the emulator accepted (PUBACK success)
// in gateway telemetry messages.
func gatewayTelemetryEntries(t *testing.T, msgs []tbemu.Message) map[outageRecord]int {
	t.Helper()
	seen := map[outageRecord]int{}
	for _, m := range msgs {
		if m.Topic != "v1/gateway/telemetry" || m.Reason != 0 {
			continue
		}
		var body map[string][]struct {
			TS int64 `json:"ts"`
		}
		if err := json.Unmarshal(m.Payload, &body); err != nil {
			t.Fatalf("gateway telemetry %s: %v", m.Payload, err)
		}
		for dev, entries := range body {
			for _, en := range entries {
				seen[outageRecord{dev, en.TS}]++
			}
		}
	}
	return seen
}

// trackedTopics are the topics of the uplink's packed messages (counted in uplink.Stats.Messages).
var trackedTopics = map[string]bool{
	"v1/gateway/telemetry": true, "v1/gateway/attributes": true, "v1/gateway/connect": true, "v1/gateway/disconnect": true,
}

func TestE2EOutageUnderLoadLosesNothing(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "loader")
	const window = 8
	r := e.start(setup{
		connectors: []connSpec{p.conn()},
		tb:         map[string]any{"maxInflightMessages": window},
	})
	lp := startLoad(t, e, p.Sink(t, e.ctx))
	e.waitFor("load reaching the emulator", func() bool { return len(e.emu.Telemetry("load-2", "v")) >= 50 })

	// Fill the in-flight window with messages the emulator has handled but not acknowledged, so that exactly
	// those records are in flight when the link drops: each must arrive twice, and nothing else may.
	e.emu.WithholdPubAcks(true)
	e.eventually("a full in-flight window handled by the emulator", func() bool {
		st := r.gw.Stats().Uplink
		if st.Messages-st.Acks-st.DeadMessages != window {
			return false
		}
		handled := uint64(0)
		for _, m := range e.emu.Messages() {
			if trackedTopics[m.Topic] {
				handled++
			}
		}
		return handled == st.Messages
	})
	e.emu.RefuseConnections(10 * time.Second)
	e.emu.DropConnections()
	e.emu.WithholdPubAcks(false)
	r.waitEvent(t, e.ctx, uplink.EventDisconnected)
	during := lp.count()
	reconnect := r.waitEvent(t, e.ctx, uplink.EventConnected)
	if lp.count() <= during {
		t.Fatalf("no record was accepted during the outage (%d before, %d after)", during, lp.count())
	}
	afterReconnect := lp.count()
	e.eventually("more load after the reconnect", func() bool { return lp.count() >= afterReconnect+200 })
	lp.halt()

	lp.mu.Lock()
	accepted := append([]outageRecord(nil), lp.accepted...)
	refused := lp.refused
	lp.mu.Unlock()
	perDevice := map[string]int{}
	for _, a := range accepted {
		perDevice[a.device]++
	}
	e.waitFor("every accepted record at the emulator", func() bool {
		for dev, n := range perDevice {
			if len(e.emu.Telemetry(dev, "v")) < n {
				return false
			}
		}
		return true
	})
	for _, a := range accepted {
		if v, ok := e.valueAt(a.device, "v", a.ts); !ok || v != a.ts {
			t.Errorf("record %s@%d accepted by Send is missing at the emulator (value %v)", a.device, a.ts, v)
		}
	}
	if refused != 0 {
		t.Errorf("Send refused %d records (storage holds 100000)", refused)
	}

	msgs := e.emu.Messages()
	seen := gatewayTelemetryEntries(t, msgs)
	dups := 0
	for rec, n := range seen {
		if n > 1 {
			dups += n - 1
			// A duplicate is an in-flight record sent again after the reconnect.
			var first, last time.Time
			for _, m := range msgs {
				if m.Topic == "v1/gateway/telemetry" && m.Reason == 0 && containsEntry(m.Payload, rec) {
					if first.IsZero() {
						first = m.Time
					}
					last = m.Time
				}
			}
			if !first.Before(reconnect.Time) || last.Before(reconnect.Time) {
				t.Errorf("record %v arrived %d times, not around the reconnect (%v .. %v, reconnect %v)", rec, n, first, last, reconnect.Time)
			}
		}
	}
	st := r.gw.Stats().Uplink
	if uint64(dups) != st.Redelivered || dups == 0 {
		t.Errorf("the emulator got %d duplicate records; the uplink counted %d redelivered (want equal and > 0)", dups, st.Redelivered)
	}
	t.Logf("%d records accepted (%d during the outage), %d duplicates, uplink %+v", len(accepted), afterReconnect-during, dups, st)
}

// containsEntry reports whether a gateway telemetry payload has an entry of rec's device at rec's ts.
func containsEntry(payload []byte, rec outageRecord) bool {
	var body map[string][]struct {
		TS int64 `json:"ts"`
	}
	if json.Unmarshal(payload, &body) != nil {
		return false
	}
	for _, en := range body[rec.device] {
		if en.TS == rec.ts {
			return true
		}
	}
	return false
}

func TestE2EStatisticsTelemetryAndOwnAttributes(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "counted")
	e.start(setup{
		connectors: []connSpec{p.conn()},
		tb:         map[string]any{"statistics": map[string]any{"enable": true, "statsSendPeriodInSeconds": 60}},
		opts:       runtime.Options{StatisticsPeriod: 20 * time.Millisecond},
	})
	e.waitFor("the gateway's Version attribute", func() bool {
		return e.emu.Attributes(gwName, tbemu.ScopeClient)["Version"] == runtime.Version
	})
	p.send(t, e.ctx, dataRec("stat-dev", 1), dataRec("stat-dev", 2), dataRec("stat-dev", 3))

	// The per-period counters are deltas; summed over the periods they give the totals.
	type connStats struct {
		ConnectorMsgsReceived int64 `json:"connectorMsgsReceived"`
		DatapointsStored      int64 `json:"datapointsStored"`
	}
	sum := func() (received, datapoints int64, gauges bool) {
		for _, pt := range e.emu.Telemetry(gwName, "connectorsStats") {
			raw, ok := pt.Value.(json.RawMessage)
			if !ok {
				t.Fatalf("connectorsStats is %T, want a JSON object", pt.Value)
			}
			var m map[string]connStats
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("connectorsStats %s: %v", raw, err)
			}
			received += m["counted"].ConnectorMsgsReceived
			datapoints += m["counted"].DatapointsStored
		}
		latest := e.emu.Latest(gwName)
		_, ok1 := latest["serviceStats"]
		_, ok2 := latest["machineStats"]
		return received, datapoints, ok1 && ok2
	}
	e.waitFor("statistics counting the three records", func() bool {
		r, d, _ := sum()
		return r >= 3 && d >= 3
	})
	received, datapoints, gauges := sum()
	if received != 3 || datapoints != 3 || !gauges {
		t.Errorf("statistics: %d records received, %d datapoints, serviceStats and machineStats present: %v; want 3, 3, true",
			received, datapoints, gauges)
	}
	var service struct {
		StorageMsgCount   *int64 `json:"storageMsgCount"`
		PlatformMsgPushed *int64 `json:"platformMsgPushed"`
	}
	raw, _ := e.emu.Latest(gwName)["serviceStats"].Value.(json.RawMessage)
	if err := json.Unmarshal(raw, &service); err != nil || service.StorageMsgCount == nil || service.PlatformMsgPushed == nil {
		t.Errorf("serviceStats %s lacks storageMsgCount/platformMsgPushed (%v)", raw, err)
	}
	var machine struct {
		MsgsSentToPlatform *int64 `json:"msgsSentToPlatform"`
	}
	raw, _ = e.emu.Latest(gwName)["machineStats"].Value.(json.RawMessage)
	if err := json.Unmarshal(raw, &machine); err != nil || machine.MsgsSentToPlatform == nil {
		t.Errorf("machineStats %s lacks msgsSentToPlatform (%v)", raw, err)
	}
}

func TestE2EStatisticsDisabled(t *testing.T) {
	e := newE2E(t)
	p := newProbe(t, "quiet")
	r := e.start(setup{
		connectors: []connSpec{p.conn()},
		opts:       runtime.Options{StatisticsPeriod: time.Millisecond},
	})
	// Ten periods' worth of gateway traffic: an RPC round trip per record.
	for i := range int64(10) {
		p.send(t, e.ctx, dataRec("quiet-dev", i+1))
		gatewayRPC[string](e, "gateway_ping", nil)
	}
	r.stop()
	if keys := e.emu.Keys(gwName); len(keys) != 0 {
		t.Errorf("statistics are disabled, yet the gateway device has telemetry %v", keys)
	}
}
