package runtime

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/report"
	"github.com/tbgateway/tbgateway/storage/memory"
	"github.com/tbgateway/tbgateway/storage/switchable"
)

// cueStore is a memory storage whose Put fails with ErrStorageFull while failing is set; it keeps every batch
// offered to Put, stored or not.
type cueStore struct {
	tbgateway.Storage
	mu      sync.Mutex
	failing bool
	offered [][]tbgateway.Record
	onPut   func() // called at the start of every Put, outside the lock
}

func (s *cueStore) Put(ctx context.Context, recs []tbgateway.Record) error {
	if s.onPut != nil {
		s.onPut()
	}
	s.mu.Lock()
	s.offered = append(s.offered, append([]tbgateway.Record(nil), recs...))
	failing := s.failing
	s.mu.Unlock()
	if failing {
		return tbgateway.ErrStorageFull
	}
	return s.Storage.Put(ctx, recs)
}

func (s *cueStore) fail(on bool) {
	s.mu.Lock()
	s.failing = on
	s.mu.Unlock()
}

// stored drains every record the store holds.
func (s *cueStore) stored(t *testing.T) []tbgateway.Record {
	t.Helper()
	var out []tbgateway.Record
	for s.Stats().Count > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		es, err := s.Next(ctx, 100)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			out = append(out, e.Record)
			if err := s.Ack(e.Seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// sinkGateway is a gateway with only what Send uses: the given strategy for connector "c", a store that fails
// on cue and a clock that stands still at now.
func sinkGateway(t *testing.T, strategy report.Strategy, now time.Time) (*connectorSink, *cueStore) {
	sink, store, _ := sinkGatewayClock(t, strategy, now)
	return sink, store
}

// sinkGatewayClock is sinkGateway with a clock the test moves.
func sinkGatewayClock(t *testing.T, strategy report.Strategy, now time.Time) (*connectorSink, *cueStore, *time.Time) {
	t.Helper()
	store := &cueStore{Storage: memory.New(memory.Options{MaxRecords: 100})}
	clock := now
	devices, err := OpenDeviceTable("")
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{
		log: slog.New(slog.DiscardHandler), now: func() time.Time { return clock },
		store: switchable.New(store, nil), devices: devices, stamper: NewStamper(),
		filter: report.New(&report.Resolver{Rules: map[report.Scope]report.Strategy{{Connector: "c"}: strategy}}, nil, nil),
	}
	g.cfg.Store(&config.Config{})
	c := &runningConnector{name: "c", typ: "test", log: g.log, stats: &connectorCounters{}}
	return &connectorSink{g: g, c: c}, store, &clock
}

func reading(device string, v float64) tbgateway.Record {
	return tbgateway.Record{Device: device, DeviceType: "thermometer",
		Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"temperature": v}}}}
}

// TestSendRetryAfterFullStoresOnChangeReading: with ON_CHANGE, a reading whose Send failed on a full store is
// stored by the retry, with its device's connect and type, the same timestamp, and the filter, device table and
// stamper as they were before the failed call.
func TestSendRetryAfterFullStoresOnChangeReading(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	sink, store := sinkGateway(t, report.Strategy{Type: report.OnChange}, now)
	g := sink.g

	store.fail(true)
	err := sink.Send(context.Background(), reading("boiler", 21.5))
	if !errors.Is(err, tbgateway.ErrStorageFull) {
		t.Fatalf("Send on a full store = %v, want ErrStorageFull", err)
	}
	if _, known := g.devices.Owner("boiler"); known {
		t.Error("the device table holds the device of a failed Send")
	}
	if st := g.filter.Stats(); st.Cached != 0 || st.Filtered != 0 {
		t.Errorf("the report filter changed on a failed Send: %+v", st)
	}
	if len(g.stamper.last) != 0 {
		t.Errorf("the stamper kept state of a failed Send: %v", g.stamper.last)
	}
	failed := store.offered[0]

	store.fail(false)
	if err := sink.Send(context.Background(), reading("boiler", 21.5)); err != nil {
		t.Fatalf("retry: %v", err)
	}
	got := store.stored(t)
	want := []tbgateway.Record{
		{Kind: tbgateway.KindConnect, Device: "boiler", DeviceType: "thermometer", Connector: "c"},
		{Device: "boiler", DeviceType: "thermometer", Connector: "c", ReceivedTS: now.UnixMilli(),
			Attributes: map[string]any{"connectorType": "test", "connectorName": "c"}},
		{Device: "boiler", DeviceType: "thermometer", Connector: "c", ReceivedTS: now.UnixMilli(),
			Telemetry: []tbgateway.Telemetry{{TS: now.UnixMilli(), Values: map[string]any{"temperature": 21.5}}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the retry stored\n%+v\nwant\n%+v", got, want)
	}
	if !reflect.DeepEqual(failed, want) {
		t.Errorf("the failed call offered\n%+v\nthe retry stored\n%+v", failed, want)
	}
	if d, ok := g.devices.Owner("boiler"); !ok || d.Type != "thermometer" || d.ConnectorName != "c" {
		t.Errorf("device table after the retry: %+v, %v", d, ok)
	}

	// The reading is now the filter's last value: the same reading again is held back.
	if err := sink.Send(context.Background(), reading("boiler", 21.5)); err != nil {
		t.Fatal(err)
	}
	if got := store.stored(t); len(got) != 0 {
		t.Errorf("an unchanged ON_CHANGE reading was stored: %+v", got)
	}
}

// TestSendRetryKeepsTimestampsIncreasing: a failed Send gives its stamps back and leaves the caller's records
// unstamped, so a retry at the same instant gets the same timestamps, one at a later instant gets later ones, and
// the device's stored timestamps stay strictly increasing.
func TestSendRetryKeepsTimestampsIncreasing(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	base := now.UnixMilli()
	sink, store, clock := sinkGatewayClock(t, report.Strategy{}, now)
	send := func(recs ...tbgateway.Record) error { return sink.Send(context.Background(), recs...) }
	if err := send(reading("boiler", 1)); err != nil {
		t.Fatal(err)
	}
	store.fail(true)
	two := []tbgateway.Record{reading("boiler", 2), reading("boiler", 3)}
	if err := send(two...); err == nil {
		t.Fatal("Send on a full store succeeded")
	}
	if two[0].Telemetry[0].TS != 0 || two[1].Telemetry[0].TS != 0 {
		t.Fatalf("Send stamped the caller's records: %d, %d", two[0].Telemetry[0].TS, two[1].Telemetry[0].TS)
	}
	if failed := store.offered[1]; failed[0].Telemetry[0].TS != base+1 || failed[1].Telemetry[0].TS != base+2 {
		t.Errorf("the failed call offered timestamps %d, %d", failed[0].Telemetry[0].TS, failed[1].Telemetry[0].TS)
	}
	store.fail(false)
	if err := send(two...); err != nil {
		t.Fatal(err)
	}
	// A second failure at a later instant, then its retry and one more reading.
	store.fail(true)
	*clock = now.Add(time.Millisecond)
	if err := send(reading("boiler", 4)); err == nil {
		t.Fatal("Send on a full store succeeded")
	}
	store.fail(false)
	*clock = now.Add(2 * time.Millisecond)
	if err := send(reading("boiler", 4)); err != nil {
		t.Fatal(err)
	}
	if err := send(reading("boiler", 5)); err != nil {
		t.Fatal(err)
	}
	var ts []int64
	for _, r := range store.stored(t) {
		for _, tel := range r.Telemetry {
			ts = append(ts, tel.TS)
		}
	}
	if want := []int64{base, base + 1, base + 2, base + 3, base + 4}; !reflect.DeepEqual(ts, want) {
		t.Errorf("stored timestamps %v, want %v", ts, want)
	}
}

// TestSendInvalidRecordChangesNothing: a batch refused by validation leaves the device table and the stamper as
// they were, so its valid records are announced and stamped as new when they come again.
func TestSendInvalidRecordChangesNothing(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	sink, store := sinkGateway(t, report.Strategy{Type: report.OnChange}, now)
	bad := tbgateway.Record{Device: ""}
	if err := sink.Send(context.Background(), reading("boiler", 1), bad); !errors.Is(err, tbgateway.ErrInvalidRecord) {
		t.Fatalf("Send with an invalid record = %v, want ErrInvalidRecord", err)
	}
	if _, known := sink.g.devices.Owner("boiler"); known || len(sink.g.stamper.last) != 0 || sink.g.filter.Stats().Cached != 0 {
		t.Fatal("a refused batch left state behind")
	}
	if err := sink.Send(context.Background(), reading("boiler", 1)); err != nil {
		t.Fatal(err)
	}
	if got := store.stored(t); len(got) != 3 || got[0].Kind != tbgateway.KindConnect {
		t.Errorf("stored %+v, want the connect, the connector details and the reading", got)
	}
}

// TestSendNewDeviceKnownWhileStoring: a new device is known to the downlink (Lookup) while its first records are
// being stored, since they can reach ThingsBoard and ThingsBoard can call the device back before Send returns; a
// store that fails leaves it unknown.
func TestSendNewDeviceKnownWhileStoring(t *testing.T) {
	sink, store := sinkGateway(t, report.Strategy{Type: report.OnReceived}, time.UnixMilli(1_700_000_000_000))
	g := sink.g
	var during []bool
	store.onPut = func() {
		_, ok := g.devices.Lookup("pump")
		during = append(during, ok)
	}
	store.fail(true)
	if err := sink.Send(context.Background(), reading("pump", 1)); err == nil {
		t.Fatal("Send on a failing store succeeded")
	}
	if _, ok := g.devices.Lookup("pump"); ok {
		t.Error("a device whose records were not stored stays known")
	}
	store.fail(false)
	if err := sink.Send(context.Background(), reading("pump", 1)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(during, []bool{true, true}) {
		t.Errorf("device known during the two Puts: %v, want [true true]", during)
	}
	if d, ok := g.devices.Lookup("pump"); !ok || d.ConnectorName != "c" {
		t.Errorf("after the stored Send: %+v, %v", d, ok)
	}
	if len(g.devices.pending) != 0 {
		t.Errorf("staged devices left behind: %v", g.devices.pending)
	}
}
