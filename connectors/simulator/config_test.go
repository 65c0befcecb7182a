package simulator

import (
	"reflect"
	"strings"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

func TestDecodeDefaults(t *testing.T) {
	cfg, warnings, err := Decode("sim.json", []byte(`{"devices":[{"deviceName":"D","timeseries":[{"key":"a","value":1},{"key":"s","type":"SINE"}]}]}`))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Decode: %v %v", err, warnings)
	}
	d := cfg.Devices[0]
	if *cfg.Seed != DefaultSeed || d.DeviceType != tbgateway.DefaultDeviceType || d.PeriodMs != DefaultPeriodMs {
		t.Fatalf("defaults not applied: seed %d %+v", *cfg.Seed, d)
	}
	a, s := d.Timeseries[0], d.Timeseries[1]
	if a.Type != TypeConstant || a.Value != int64(1) {
		t.Fatalf("constant series %+v", a)
	}
	if s.Type != TypeSine || *s.Min != DefaultMin || *s.Max != DefaultMax || s.PeriodSeconds != DefaultSinePeriodSeconds {
		t.Fatalf("sine series %+v", s)
	}
}

func TestDecodeWarnsUnknownKeys(t *testing.T) {
	_, warnings, err := Decode("sim.json", []byte(`{"nmae":"x","devices":[{"deviceName":"D","colour":1,
		"attributes":[{"key":"k","value":1,"extra":2}],"timeseries":[{"key":"a","value":1,"step":3}]}]}`))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := []string{
		"sim.json: devices[0].attributes[0].extra: unknown key, ignored",
		"sim.json: devices[0].timeseries[0].step: unknown key, ignored",
		"sim.json: devices[0].colour: unknown key, ignored",
		"sim.json: nmae: unknown key, ignored",
	}
	if !reflect.DeepEqual(warnings, want) {
		t.Fatalf("warnings %q, want %q", warnings, want)
	}
}

func TestDecodeErrorsNameThePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`[]`, "sim.json: (top level): expected an object, found a list"},
		{`{"devices":"x"}`, `sim.json: devices: expected a list, found "x"`},
		{`{"devices":[{"deviceName":"D",`, "sim.json:1:31: invalid JSON: unexpected end of file"},
		{`{}`, "devices: at least one device"},
		{`{"devices":[{"timeseries":[{"key":"a","value":1}]}]}`, "devices[0].deviceName: expected the device's name, found nothing"},
		{`{"devices":[{"deviceName":" ","timeseries":[{"key":"a","value":1}]}]}`, `devices[0].deviceName: expected the device's name, found " "`},
		{`{"devices":[{"deviceName":"D"}]}`, "devices[0]: no attributes and no timeseries"},
		{`{"devices":[{"deviceName":"D","periodMs":-5,"timeseries":[{"key":"a","value":1}]}]}`, "devices[0].periodMs: expected a positive number of milliseconds, found -5"},
		{`{"devices":[{"deviceName":"D","timeseries":[{"key":"a","value":1}]},{"deviceName":"D","timeseries":[{"key":"a","value":1}]}]}`, "devices[1].deviceName: \"D\" is used twice"},
		{`{"devices":[{"deviceName":"D","timeseries":[{"key":"a","type":"sin"}]}]}`, `devices[0].timeseries[0].type: expected one of sine, random, counter, constant, bool, string, found "sin"`},
		{`{"devices":[{"deviceName":"D","timeseries":[{"key":"a"}]}]}`, "devices[0].timeseries[0].value: expected a value, found nothing"},
		{`{"devices":[{"deviceName":"D","timeseries":[{"key":"a","value":1},{"key":"a","value":2}]}]}`, "devices[0].timeseries[1].key: \"a\" is used twice"},
		{`{"devices":[{"deviceName":"D","timeseries":[{"key":"a","type":"random","min":5,"max":1}]}]}`, "devices[0].timeseries[0].min"},
		{`{"devices":[{"deviceName":"D","timeseries":[{"key":"a","type":"sine","periodSeconds":-1}]}]}`, "devices[0].timeseries[0].periodSeconds"},
		{`{"devices":[{"deviceName":"D","timeseries":[{"key":"a","type":"counter","value":1.5}]}]}`, "devices[0].timeseries[0].value: expected an integer counter start, found 1.5"},
		{`{"devices":[{"deviceName":"D","timeseries":[{"key":"a","type":"bool","value":"yes"}]}]}`, `devices[0].timeseries[0].value: expected true or false, found "yes"`},
		{`{"devices":[{"deviceName":"D","timeseries":[{"key":"a","type":"string","value":3}]}]}`, "devices[0].timeseries[0].value: expected a string, found 3"},
		{`{"devices":[{"deviceName":"D","attributes":[{"key":"","value":1}]}]}`, `devices[0].attributes[0].key: expected the attribute's name, found ""`},
		{`{"devices":[{"deviceName":"D","attributes":[{"key":"k"}]}]}`, "devices[0].attributes[0].value: expected a value, found nothing"},
		{`{"reportStrategy":{"type":"NEVER"},"devices":[{"deviceName":"D","attributes":[{"key":"k","value":1}]}]}`, "reportStrategy: type: unknown report strategy"},
		{`{"devices":[{"deviceName":"D","reportStrategy":{"type":"ON_REPORT_PERIOD","reportPeriod":-1},"attributes":[{"key":"k","value":1}]}]}`, "devices[0].reportStrategy: reportPeriod"},
		{`{"devices":[{"deviceName":"D","timeseries":[{"key":"a","value":1,"reportStrategy":{"type":"x"}}]}]}`, "devices[0].timeseries[0].reportStrategy: type"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, _, err := Decode("sim.json", []byte(tc.in))
			if err == nil || !strings.HasPrefix(err.Error(), "sim.json") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode(%s) = %v, want an error containing %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestRegisteredAndChecked(t *testing.T) {
	ct, ok := tbgateway.LookupConnector(Type)
	if !ok || ct.Check == nil {
		t.Fatal("simulator connector type not registered with a checker")
	}
	warnings, err := ct.Check(tbgateway.ConnectorConfig{Name: "Sim", Type: Type, File: "sim.json",
		Raw: []byte(`{"devices":[{"deviceName":"D","x":1,"timeseries":[{"key":"a","type":"nope"}]}]}`)})
	if err == nil || !strings.HasPrefix(err.Error(), "sim.json: devices[0].timeseries[0].type") {
		t.Fatalf("Check error %v, want one naming the file and the key path", err)
	}
	if len(warnings) != 1 || warnings[0] != "sim.json: devices[0].x: unknown key, ignored" {
		t.Fatalf("warnings %q", warnings)
	}
	conn, err := ct.New(tbgateway.ConnectorConfig{Name: "Main Name", Type: Type,
		Raw: []byte(`{"name":"File Name","devices":[{"deviceName":"D","attributes":[{"key":"k","value":1}]}]}`)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	sim := conn.(*Simulator)
	if sim.name != "Main Name" || !reflect.DeepEqual(sim.Devices(), []tbgateway.DeviceInfo{{Name: "D", Type: "default"}}) {
		t.Fatalf("built %q with %+v", sim.name, sim.Devices())
	}
	if _, err := ct.New(tbgateway.ConnectorConfig{Name: "x", Raw: []byte(`{}`)}); err == nil || !strings.Contains(err.Error(), "connector x: devices") {
		t.Fatalf("New with a bad config: %v", err)
	}
}
