package report

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	tbgateway "github.com/tbgateway/tbgateway"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is the emit target of the periodic re-sends.
type recorder struct {
	mu   sync.Mutex
	got  []tbgateway.Record
	fail error
}

func (r *recorder) emit(_ context.Context, recs []tbgateway.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, recs...)
	return nil
}

func (r *recorder) take() []tbgateway.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

// harness runs a filter with one connector-wide strategy inside a synctest bubble.
type harness struct {
	t   *testing.T
	f   *Filter
	rec *recorder
}

func run(t *testing.T, s Strategy, body func(h *harness)) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		f := New(&Resolver{Rules: map[Scope]Strategy{{Connector: "c"}: s}}, rec.emit, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- f.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		body(&harness{t: t, f: f, rec: rec})
	})
}

func telemetry(v any) tbgateway.Record {
	return tbgateway.Record{Device: "dev", DeviceType: "thermo", Connector: "c",
		Telemetry: []tbgateway.Telemetry{{TS: time.Now().UnixMilli(), Values: map[string]any{"t": v}}}}
}

// send applies a telemetry value "t" stamped now and returns what Apply forwarded (nil when nothing).
func (h *harness) send(v any) map[string]any {
	h.t.Helper()
	in := telemetry(v)
	out, keep := h.f.Apply(time.Now(), in)
	if !keep {
		if out.Datapoints() != 0 {
			h.t.Fatalf("Apply returned keep=false with %d datapoints", out.Datapoints())
		}
		return nil
	}
	if len(out.Telemetry) != 1 || out.Telemetry[0].TS != in.Telemetry[0].TS {
		h.t.Fatalf("forwarded telemetry %+v lost its timestamp %d", out.Telemetry, in.Telemetry[0].TS)
	}
	return out.Telemetry[0].Values
}

// wait advances the fake clock by d and lets Run act.
func (h *harness) wait(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// resent returns the re-sent value of "t" and checks that it is stamped with the current time.
func (h *harness) resent() []any {
	h.t.Helper()
	var vals []any
	for _, r := range h.rec.take() {
		if r.Device != "dev" || r.DeviceType != "thermo" || r.Connector != "c" || len(r.Telemetry) != 1 {
			h.t.Fatalf("re-sent record %+v", r)
		}
		if ts := r.Telemetry[0].TS; ts != time.Now().UnixMilli() {
			h.t.Fatalf("re-sent at ts %d, want now %d", ts, time.Now().UnixMilli())
		}
		vals = append(vals, r.Telemetry[0].Values["t"])
	}
	return vals
}

func want(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %#v, want %#v", what, got, want)
	}
}

func fwd(v any) map[string]any { return map[string]any{"t": v} }

func TestPassThrough(t *testing.T) {
	for _, typ := range []Type{OnReceived, Disabled, ""} {
		t.Run(string(typ), func(t *testing.T) {
			run(t, Strategy{Type: typ}, func(h *harness) {
				want(t, "first", h.send(20.0), fwd(20.0))
				h.wait(time.Second)
				want(t, "same again", h.send(20.0), fwd(20.0))
				h.wait(time.Hour)
				want(t, "re-sends", h.resent(), []any(nil))
				want(t, "cached", h.f.Stats().Cached, 0)
			})
		})
	}
}

func TestOnChange(t *testing.T) {
	run(t, Strategy{Type: OnChange}, func(h *harness) {
		want(t, "first", h.send(20.0), fwd(20.0))
		h.wait(time.Second)
		want(t, "same", h.send(20.0), map[string]any(nil))
		want(t, "within 0.001", h.send(20.0009), map[string]any(nil))
		want(t, "changed", h.send(20.5), fwd(20.5))
		want(t, "int equal to float", h.send(int64(20)), fwd(int64(20)))
		want(t, "int same", h.send(int64(20)), map[string]any(nil))
		want(t, "string", h.send("on"), fwd("on"))
		want(t, "string same", h.send("on"), map[string]any(nil))
		want(t, "bool", h.send(true), fwd(true))
		want(t, "bool same", h.send(true), map[string]any(nil))
		want(t, "json", h.send(tbgateway.RawJSON(`{"a":1}`)), fwd(tbgateway.RawJSON(`{"a":1}`)))
		want(t, "json same", h.send(tbgateway.RawJSON(`{"a":1}`)), map[string]any(nil))
		h.wait(time.Hour)
		want(t, "re-sends", h.resent(), []any(nil))
		want(t, "same after an hour", h.send(tbgateway.RawJSON(`{"a":1}`)), map[string]any(nil))
		want(t, "filtered", h.f.Stats().Filtered, uint64(7))
	})
}

func TestOnReportPeriod(t *testing.T) {
	run(t, Strategy{Type: OnReportPeriod, Period: time.Second}, func(h *harness) {
		want(t, "first", h.send(20.0), fwd(20.0))
		h.wait(300 * time.Millisecond)
		want(t, "changed value is cached", h.send(21.0), map[string]any(nil))
		h.wait(699 * time.Millisecond)
		want(t, "before the period", h.resent(), []any(nil))
		h.wait(time.Millisecond)
		want(t, "at 1s the last value, stamped now", h.resent(), []any{21.0})
		h.wait(time.Second)
		want(t, "at 2s the same value again, new ts", h.resent(), []any{21.0})
		h.wait(500 * time.Millisecond)
		want(t, "change at 2.5s is cached", h.send(22.0), map[string]any(nil))
		h.wait(500 * time.Millisecond)
		want(t, "at 3s", h.resent(), []any{22.0})
		want(t, "stats", h.f.Stats(), Stats{Filtered: 2, Resent: 3, Cached: 1})
	})
}

func TestOnChangeOrReportPeriod(t *testing.T) {
	run(t, Strategy{Type: OnChangeOrReportPeriod, Period: time.Second}, func(h *harness) {
		want(t, "first", h.send(20.0), fwd(20.0))
		h.wait(300 * time.Millisecond)
		want(t, "unchanged", h.send(20.0), map[string]any(nil))
		h.wait(100 * time.Millisecond)
		want(t, "change is forwarded at once", h.send(25.0), fwd(25.0))
		h.wait(599 * time.Millisecond)
		want(t, "the change did not reset the period", h.resent(), []any(nil))
		h.wait(time.Millisecond)
		want(t, "at 1s", h.resent(), []any{25.0})
		h.wait(time.Second)
		want(t, "at 2s same value, new ts", h.resent(), []any{25.0})
	})
}

func TestTTL(t *testing.T) {
	t.Run("OnChange", func(t *testing.T) {
		run(t, Strategy{Type: OnChange, TTL: 5 * time.Second}, func(h *harness) {
			want(t, "first", h.send(1.0), fwd(1.0))
			h.wait(4 * time.Second)
			want(t, "same within ttl", h.send(1.0), map[string]any(nil))
			h.wait(5 * time.Second)
			want(t, "same after ttl counts as first", h.send(1.0), fwd(1.0))
			h.wait(time.Hour)
			want(t, "swept", h.f.Stats().Cached, 0)
		})
	})
	t.Run("OnReportPeriod", func(t *testing.T) {
		run(t, Strategy{Type: OnReportPeriod, Period: time.Second, TTL: 2500 * time.Millisecond}, func(h *harness) {
			want(t, "first", h.send(1.0), fwd(1.0))
			h.wait(time.Second)
			want(t, "1s", h.resent(), []any{1.0})
			h.wait(time.Second)
			want(t, "2s", h.resent(), []any{1.0})
			h.wait(time.Second)
			want(t, "3s: expired, no re-send", h.resent(), []any(nil))
			h.wait(time.Minute)
			want(t, "nothing later", h.resent(), []any(nil))
			want(t, "cache", h.f.Stats().Cached, 0)
			want(t, "new first", h.send(1.0), fwd(1.0))
		})
	})
}

func TestEmitFailureRetriedNextPeriod(t *testing.T) {
	run(t, Strategy{Type: OnReportPeriod, Period: time.Second}, func(h *harness) {
		h.send(7.0)
		h.rec.mu.Lock()
		h.rec.fail = errors.New("storage is full")
		h.rec.mu.Unlock()
		h.wait(time.Second)
		want(t, "errors", h.f.Stats().EmitErrors, uint64(1))
		h.rec.mu.Lock()
		h.rec.fail = nil
		h.rec.mu.Unlock()
		h.wait(time.Second)
		want(t, "next period", h.resent(), []any{7.0})
	})
}

func TestMixedRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &Resolver{
			Global: Strategy{Type: OnChange},
			Rules: map[Scope]Strategy{
				{Connector: "c", Key: "raw"}:    {Type: OnReceived},
				{Connector: "c", Key: "slow"}:   {Type: OnReportPeriod, Period: time.Second},
				{Connector: "c", Device: "dev"}: {Type: OnChange},
			},
		}
		rec := &recorder{}
		f := New(r, rec.emit, nil)
		in := tbgateway.Record{Device: "dev", Connector: "c",
			Attributes: map[string]any{"model": "A", "slow": int64(1)},
			Telemetry: []tbgateway.Telemetry{
				{TS: 1, Values: map[string]any{"t": 1.0, "raw": 5.0}},
				{TS: 2, Values: map[string]any{"t": 1.0, "raw": 5.0}},
			}}
		out, keep := f.Apply(time.Now(), in)
		if !keep {
			t.Fatal("first record dropped")
		}
		want(t, "attributes", out.Attributes, map[string]any{"model": "A", "slow": int64(1)})
		want(t, "telemetry", out.Telemetry, []tbgateway.Telemetry{
			{TS: 1, Values: map[string]any{"t": 1.0, "raw": 5.0}},
			{TS: 2, Values: map[string]any{"raw": 5.0}},
		})
		want(t, "input untouched", len(in.Telemetry[1].Values), 2)
		in2 := tbgateway.Record{Device: "dev", Connector: "c", Attributes: map[string]any{"model": "A", "slow": int64(2)}}
		if out, keep := f.Apply(time.Now(), in2); keep {
			t.Fatalf("unchanged/cached attributes forwarded: %+v", out)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = f.Run(ctx); close(done) }()
		time.Sleep(time.Second)
		synctest.Wait()
		want(t, "attribute re-sent as attribute", rec.take(), []tbgateway.Record{
			{Device: "dev", Connector: "c", Attributes: map[string]any{"slow": int64(2)}},
		})
		conn := tbgateway.Record{Kind: tbgateway.KindConnect, Device: "dev", Connector: "c"}
		if out, keep := f.Apply(time.Now(), conn); !keep || !reflect.DeepEqual(out, conn) {
			t.Fatalf("connect record changed: %+v %v", out, keep)
		}
		cancel()
		<-done
	})
}

func TestNilResolverForwardsAll(t *testing.T) {
	f := New(nil, func(context.Context, []tbgateway.Record) error { return nil }, nil)
	in := telemetry(1.0)
	for range 2 {
		if out, keep := f.Apply(time.Now(), in); !keep || !reflect.DeepEqual(out, in) {
			t.Fatalf("nil resolver changed the record: %+v", out)
		}
	}
}

func TestStrategyChangeStartsOver(t *testing.T) {
	f := New(&Resolver{Global: Strategy{Type: OnChange}}, nil, nil)
	now := time.Unix(1000, 0)
	in := telemetry(1.0)
	in.Connector = "x"
	if _, keep := f.Apply(now, in); !keep {
		t.Fatal("first dropped")
	}
	if _, keep := f.Apply(now, in); keep {
		t.Fatal("unchanged forwarded")
	}
	f.SetResolver(&Resolver{Global: Strategy{Type: OnChange, TTL: time.Hour}})
	if _, keep := f.Apply(now, in); !keep {
		t.Fatal("first value under the new strategy dropped")
	}
}
