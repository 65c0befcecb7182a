package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	tbgateway "github.com/tbgateway/tbgateway"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSink is a test double of the runtime's Sink: it keeps what is sent and can fail.
type fakeSink struct {
	mu   sync.Mutex
	recs []tbgateway.Record
	fail error
}

func (f *fakeSink) Send(_ context.Context, recs ...tbgateway.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range recs {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	if f.fail != nil {
		return f.fail
	}
	f.recs = append(f.recs, recs...)
	return nil
}

func (f *fakeSink) RequestAttributes(context.Context, string, bool, []string) (map[string]any, error) {
	return nil, tbgateway.ErrNotConnected
}

func (f *fakeSink) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func (f *fakeSink) take() []tbgateway.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.recs
	f.recs = nil
	return out
}

func (f *fakeSink) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

const thermoConfig = `{
  "name": "Simulator",
  "seed": 7,
  "devices": [{
    "deviceName": "Sim Thermostat 1", "deviceType": "thermostat", "periodMs": 1000,
    "attributes": [{"key": "model", "value": "T-1000"}, {"key": "limits", "value": {"lo": 1}}],
    "timeseries": [
      {"key": "temperature", "type": "sine", "min": 18, "max": 26, "periodSeconds": 4},
      {"key": "humidity", "type": "random", "min": 30, "max": 60},
      {"key": "cycles", "type": "counter", "max": 2},
      {"key": "setpoint", "value": 21.5},
      {"key": "heating", "type": "bool"},
      {"key": "mode", "type": "string", "value": "auto"}
    ]
  }, {
    "deviceName": "Sim Meter", "periodMs": 3000,
    "timeseries": [{"key": "n", "type": "counter", "value": 10}]
  }]
}`

func newSim(t *testing.T, raw string) *Simulator {
	t.Helper()
	cfg, warnings, err := Decode("sim.json", []byte(raw))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Decode: %v, warnings %v", err, warnings)
	}
	return New(cfg, nil)
}

// start runs s in the bubble and returns a stop function that waits for Run's result.
func start(t *testing.T, s *Simulator, sink tbgateway.Sink) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, sink) }()
	return func() error {
		cancel()
		return <-done
	}
}

func byDevice(recs []tbgateway.Record, dev string) []tbgateway.Record {
	var out []tbgateway.Record
	for _, r := range recs {
		if r.Device == dev {
			out = append(out, r)
		}
	}
	return out
}

func TestRunEmitsOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t, thermoConfig)
		sink := &fakeSink{}
		stop := start(t, s, sink)
		t0 := time.Now()
		synctest.Wait()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		recs := sink.take()
		th := byDevice(recs, "Sim Thermostat 1")
		if len(th) != 5 {
			t.Fatalf("thermostat sent %d records, want attributes + 4 samples: %+v", len(th), th)
		}
		wantAttrs := map[string]any{"model": "T-1000", "limits": tbgateway.RawJSON(`{"lo":1}`)}
		if !reflect.DeepEqual(th[0].Attributes, wantAttrs) || th[0].DeviceType != "thermostat" || th[0].Connector != "Simulator" {
			t.Fatalf("first record %+v, want the attributes", th[0])
		}
		wantTemp := []float64{22, 26, 22, 18} // sine of period 4 s sampled each second from phase 0
		for i, r := range th[1:] {
			tel := r.Telemetry[0]
			if want := t0.Add(time.Duration(i) * time.Second).UnixMilli(); tel.TS != want {
				t.Fatalf("sample %d at ts %d, want %d", i, tel.TS, want)
			}
			v := tel.Values
			if v["temperature"] != wantTemp[i] || v["cycles"] != []int64{0, 1, 2, 0}[i] ||
				v["heating"] != (i%2 == 1) || v["setpoint"] != 21.5 || v["mode"] != "auto" {
				t.Fatalf("sample %d values %v", i, v)
			}
			h, ok := v["humidity"].(float64)
			if !ok || h < 30 || h >= 60 {
				t.Fatalf("sample %d humidity %v outside [30, 60)", i, v["humidity"])
			}
		}
		meter := byDevice(recs, "Sim Meter")
		if len(meter) != 2 || meter[0].Telemetry[0].Values["n"] != int64(10) || meter[1].Telemetry[0].Values["n"] != int64(11) ||
			meter[0].DeviceType != tbgateway.DefaultDeviceType {
			t.Fatalf("meter records %+v, want n=10 at 0s and n=11 at 3s", meter)
		}
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}

		// A restart sends the attributes again and counters go on.
		stop = start(t, s, sink)
		synctest.Wait()
		recs = sink.take()
		th = byDevice(recs, "Sim Thermostat 1")
		if len(th) != 2 || th[0].Attributes["model"] != "T-1000" || th[1].Telemetry[0].Values["cycles"] != int64(1) {
			t.Fatalf("after restart: %+v", th)
		}
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}

func TestRandomIsRepeatableForASeed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		series := func(raw string) []any {
			s := newSim(t, raw)
			var out []any
			for range 5 {
				out = append(out, s.sample(s.devices[0], time.Now()).Telemetry[0].Values["humidity"])
			}
			return out
		}
		a, b := series(thermoConfig), series(thermoConfig)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("same seed, different data: %v vs %v", a, b)
		}
		if c := series(strings.Replace(thermoConfig, `"seed": 7`, `"seed": 8`, 1)); reflect.DeepEqual(a, c) {
			t.Fatalf("different seeds gave the same data %v", a)
		}
	})
}

func TestTimestampsStrictlyIncrease(t *testing.T) {
	s := newSim(t, thermoConfig)
	now := time.UnixMilli(1_700_000_000_000)
	first := s.sample(s.devices[0], now).Telemetry[0].TS
	second := s.sample(s.devices[0], now).Telemetry[0].TS
	third := s.sample(s.devices[0], now.Add(-time.Second)).Telemetry[0].TS
	if first != now.UnixMilli() || second != first+1 || third != first+2 {
		t.Fatalf("timestamps %d %d %d, want %d and strictly increasing", first, second, third, now.UnixMilli())
	}
}

// TestStorageFullRetriesTheSameReading: readings refused by a full storage are sent again, with their own
// timestamps, once it has room; no reading is lost and none is sampled anew in their place.
func TestStorageFullRetriesTheSameReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t, thermoConfig)
		sink := &fakeSink{fail: tbgateway.ErrStorageFull}
		t0 := time.Now().UnixMilli()
		stop := start(t, s, sink)
		time.Sleep(time.Second)
		synctest.Wait()
		// At 0 s the thermostat's attributes and the meter's sample, at 1 s the thermostat's attributes again
		// (its sample waits behind them).
		if n := s.Refused(); n != 3 {
			t.Fatalf("refused %d sends, want 3", n)
		}
		sink.setFail(nil)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		recs := sink.take()
		thermo, meter := byDevice(recs, "Sim Thermostat 1"), byDevice(recs, "Sim Meter")
		if len(thermo) < 2 || len(thermo[0].Attributes) == 0 || thermo[1].Telemetry[0].TS != t0 {
			t.Fatalf("thermostat after the refusals: %+v, want its attributes, then the reading of time 0 (ts %d)", thermo, t0)
		}
		if len(meter) == 0 || meter[0].Telemetry[0].TS != t0 || meter[0].Telemetry[0].Values["n"] != int64(10) {
			t.Fatalf("meter after the refusals: %+v, want the refused first reading n=10 at ts %d", meter, t0)
		}
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}

func TestOtherSendErrorEndsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t, thermoConfig)
		sink := &fakeSink{fail: errors.New("disk on fire")}
		err := s.Run(context.Background(), sink)
		if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), `device "Sim`) {
			t.Fatalf("Run = %v, want the send error naming the device", err)
		}
	})
}

func rpc(t *testing.T, s *Simulator, device, method, params string) (string, error) {
	t.Helper()
	var p json.RawMessage
	if params != "" {
		p = json.RawMessage(params)
	}
	out, err := s.HandleRPC(context.Background(), tbgateway.RPCRequest{Device: device, Method: method, Params: p})
	return string(out), err
}

func TestRPC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t, thermoConfig)
		sink := &fakeSink{}
		dev := "Sim Thermostat 1"
		if _, err := rpc(t, s, dev, "getValue", `{"key":"setpoint"}`); err == nil {
			t.Fatal("getValue before any sample succeeded")
		}
		stop := start(t, s, sink)
		synctest.Wait()
		for _, tc := range []struct{ device, method, params, want, wantErr string }{
			{dev, "getValue", `{"key":"setpoint"}`, `{"value":21.5}`, ""},
			{dev, "getValue", `{"key":"model"}`, `{"value":"T-1000"}`, ""},
			{dev, "getValue", `{"key":"nope"}`, "", `unknown key "nope"`},
			{dev, "getValue", `"setpoint"`, "", "params must be"},
			{dev, "setValue", `{"key":"setpoint","value":19}`, `{"key":"setpoint","value":19}`, ""},
			{dev, "setValue", `{"key":"temperature","value":"hot"}`, `{"key":"temperature","value":"hot"}`, ""},
			{dev, "setValue", `{"key":"model","value":1}`, "", `unknown time series "model"`},
			{dev, "setValue", `{"key":"setpoint"}`, "", "params must be"},
			{dev, "echo", `{"a":[1,2]}`, `{"a":[1,2]}`, ""},
			{dev, "reboot", ``, "", `unknown method "reboot"`},
			{"ghost", "echo", `1`, "", `unknown device "ghost"`},
			{"", "devices", ``, `[{"name":"Sim Thermostat 1","type":"thermostat"},{"name":"Sim Meter","type":"default"}]`, ""},
			{"", "restart", ``, "", `unknown connector method "restart"`},
		} {
			got, err := rpc(t, s, tc.device, tc.method, tc.params)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("%s %s: err %v, want %q", tc.method, tc.params, err, tc.wantErr)
				}
				continue
			}
			if err != nil || got != tc.want {
				t.Fatalf("%s %s = %s, %v; want %s", tc.method, tc.params, got, err, tc.want)
			}
		}
		sink.take()
		time.Sleep(time.Second)
		synctest.Wait()
		th := byDevice(sink.take(), dev)
		if len(th) != 1 || th[0].Telemetry[0].Values["setpoint"] != int64(19) || th[0].Telemetry[0].Values["temperature"] != "hot" {
			t.Fatalf("after setValue: %+v", th)
		}
		if got, _ := rpc(t, s, dev, "getValue", `{"key":"temperature"}`); got != `{"value":"hot"}` {
			t.Fatalf("getValue after setValue = %s", got)
		}
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}

func TestUpdateAttributes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSim(t, thermoConfig)
		sink := &fakeSink{}
		dev := "Sim Thermostat 1"
		err := s.UpdateAttributes(context.Background(), dev, map[string]any{"mode": "eco"})
		if !errors.Is(err, tbgateway.ErrNotConnected) {
			t.Fatalf("UpdateAttributes while stopped: %v, want ErrNotConnected", err)
		}
		stop := start(t, s, sink)
		synctest.Wait()
		sink.take()
		if err := s.UpdateAttributes(context.Background(), dev, map[string]any{"mode": "off", "target": 20.0}); err != nil {
			t.Fatalf("UpdateAttributes: %v", err)
		}
		recs := sink.take()
		if len(recs) != 1 || string(recs[0].Attributes["lastSharedUpdate"].(tbgateway.RawJSON)) != `{"mode":"off","target":20}` {
			t.Fatalf("echo of shared attributes: %+v", recs)
		}
		if got, _ := rpc(t, s, dev, "getValue", `{"key":"target"}`); got != `{"value":20}` {
			t.Fatalf("getValue of a shared attribute = %s", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		th := byDevice(sink.take(), dev)
		if len(th) != 1 || th[0].Telemetry[0].Values["mode"] != "off" {
			t.Fatalf("string series not set by the shared attribute: %+v", th)
		}
		if err := s.UpdateAttributes(context.Background(), "ghost", map[string]any{"a": 1.0}); err == nil {
			t.Fatal("update for an unknown device accepted")
		}
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}
