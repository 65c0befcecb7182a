package expression

import (
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// eval compiles src with default limits and evaluates it on env.
func eval(t *testing.T, src string, env Env) (any, error) {
	t.Helper()
	p, err := Compile(src, Limits{})
	if err != nil {
		t.Fatalf("compile %q: %v", src, err)
	}
	return p.eval(&env)
}

func TestInputsAndFunctions(t *testing.T) {
	env := Env{Payload: []byte(`{"t": 21, "h": 40.5, "name": "s1", "list": [1, 2]}`), Topic: "sensors/a/s1",
		Device: "dev", Address: "10.0.0.1:502", Connector: "c1", TS: 1700000000000,
		Config: map[string]any{"scale": 10}, Data: map[string]any{"temp": []byte{0x01, 0x02}}}
	bin := Env{Payload: []byte{0x12, 0x34, 0x56, 0x78, 0x3f, 0x80, 0x00, 0x00, 0xff, 0xfe}}
	for _, tc := range []struct {
		src  string
		env  Env
		want any
	}{
		{`json.t + 1`, env, 22},
		{`json.h`, env, 40.5},
		{`json.list[1]`, env, 2},
		{`json.missing ?? "none"`, env, "none"},
		{`text[2:3]`, env, "t"},
		{`split(topic, "/")[-1]`, env, "s1"},
		{`device + "@" + address + "/" + connector`, env, "dev@10.0.0.1:502/c1"},
		{`ts`, env, int64(1700000000000)},
		{`config.scale * 2`, env, 20},
		{`readUint(data.temp, 0, 2)`, env, 0x0102},
		{`payload[0]`, bin, uint8(0x12)},
		{`len(payload)`, bin, 10},
		{`readUint(payload, 0, 2)`, bin, 0x1234},
		{`readUint(payload, 0, 2, "little")`, bin, 0x3412},
		{`readUint(payload, 0, 4)`, bin, 0x12345678},
		{`readUint(payload, 0, 4, "little")`, bin, 0x78563412},
		{`readUint(payload, 0, 4, "big", "little")`, bin, 0x56781234},
		{`readUint(payload, 0, 4, "LITTLE", "BIG")`, bin, 0x34127856},
		{`readInt(payload, 8, 2)`, bin, -2},
		{`readInt(payload, 8, 1)`, bin, -1},
		{`readUint(payload, 8, 1)`, bin, 255},
		{`readFloat(payload, 4, 4)`, bin, 1.0},
		{`readFloat(bytes([0x3c, 0x00]), 0, 2)`, bin, 1.0},
		{`readFloat(fromHex("400921fb54442d18"), 0, 8)`, bin, 3.141592653589793},
		{`toHex(payload[0:3])`, bin, "123456"},
		{`fromHex("0x0A0b")`, bin, []byte{0x0a, 0x0b}},
		{`fromHex("0a:0b 0c")`, bin, []byte{0x0a, 0x0b, 0x0c}},
		{`utf8(bytes("héllo"))`, bin, "héllo"},
		{`bit(5, 0) && !bit(5, 1) && bit(5, 2)`, bin, true},
		{`fromJSON("{\"a\": [1, 2.5]}").a`, bin, []any{1, 2.5}},
		{`toJSON({"a": 1, "b": payload[0:2]})`, bin, `{"a":1,"b":"1234"}`},
		{`join(["a", 1, true], "-")`, bin, "a-1-true"},
		{`join(split("a,b", ","), "-")`, bin, "a-b"},
		{`replace("a.b.c", ".", "/")`, bin, "a/b/c"},
		{`string(12) + string(payload[0:1])`, bin, "12\x12"},
		{`parseTime("2024-01-02T03:04:05Z")`, bin, 1704164645000},
		{`parseTime("02.01.2024 03:04", "02.01.2006 15:04")`, bin, 1704164640000},
		{`formatTime(1704164645000)`, bin, "2024-01-02T03:04:05Z"},
		{`roundTo(2.34567, 2)`, bin, 2.35},
		{`let b = payload; b[1] * 256 + b[0]`, bin, 0x34*256 + 0x12},
		{`payload[0:1] + payload[1:2]`, bin, []byte{0x12, 0x34}},
		{`"a" + "b"`, bin, "ab"},
		{`1 + 2.5`, bin, 3.5},
		{`json`, bin, nil},
	} {
		got, err := eval(t, tc.src, tc.env)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %#v (%T), want %#v (%T)", tc.src, got, got, tc.want, tc.want)
		}
	}
}

func TestErrors(t *testing.T) {
	big := Env{Payload: []byte(strings.Repeat("x", 1000))}
	for _, tc := range []struct {
		name, src string
		limits    Limits
		env       Env
		compile   string // part of the compile error, or empty
		is        error  // the evaluation error wraps it
		eval      string // part of the evaluation error
	}{
		{name: "syntax", src: "1 +\n  (2", compile: "line 2, column"},
		{name: "unknown name", src: "payload + foo", compile: "unknown name foo"},
		{name: "empty", src: "  ", compile: "empty expression"},
		{name: "too many nodes", src: strings.Repeat("1 + ", 60) + "1", limits: Limits{MaxNodes: 50}, compile: "exceed"},
		{name: "clock", src: "now()", compile: "now"},
		{name: "repeat", src: `repeat("x", 1000000000000)`, compile: "repeat"},
		{name: "long range", src: `len(1..1000000000)`, is: ErrBudget},
		{name: "doubling let", src: `let a = text + text; let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; let g = f + f; let h = g + g; let i = h + h; len(i + i)`,
			env: big, is: ErrLimit},
		{name: "reduce doubling", src: `len(reduce(1..20, #acc + #acc, "xx"))`, is: ErrLimit},
		{name: "join blowup", src: `len(join(map(1..300, text), ""))`, env: big, is: ErrLimit},
		{name: "toJSON blowup", src: `len(toJSON(map(1..300, text)))`, env: big, is: ErrLimit},
		{name: "toJSON of shared values", src: `len(toJSON(map(1..30000, text)))`, env: big, is: ErrLimit},
		{name: "string of shared values", src: `len(string(map(1..30000, text)))`, env: big, is: ErrLimit},
		{name: "join of lists", src: `len(join(map(1..30000, [text]), ""))`, env: big, is: ErrLimit},
		{name: "replace blowup", src: `len(replace(text, "x", text))`, env: big, is: ErrLimit},
		{name: "payload too large", src: `len(payload)`, limits: Limits{MaxPayloadBytes: 10}, env: big, is: ErrLimit},
		{name: "index out of range", src: "1 +\n payload[5]", env: Env{Payload: []byte{1}}, eval: "line 2, column"},
		{name: "short read", src: `readUint(payload, 0, 4)`, env: Env{Payload: []byte{1, 2}}, eval: "outside the 2 bytes"},
		{name: "bad order", src: `readUint(payload, 0, 2, "middle")`, env: Env{Payload: []byte{1, 2}}, eval: "not big or little"},
		{name: "bad hex", src: `fromHex("zz")`, eval: "fromHex"},
		{name: "bad json", src: `fromJSON("{")`, eval: "fromJSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.src, tc.limits)
			if tc.compile != "" {
				var ce *CompileError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.compile) {
					t.Fatalf("compile error = %v, want a CompileError containing %q", err, tc.compile)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.eval(&tc.env)
			if err == nil {
				t.Fatal("evaluation succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.eval) {
				t.Fatalf("error %q does not contain %q", err, tc.eval)
			}
		})
	}
}

func TestCompileErrorPosition(t *testing.T) {
	_, err := Compile("{deviceName: topic,\n telemetry: {t: payload[0] +}}", Limits{})
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	if ce.Line != 2 || ce.Column < 20 {
		t.Fatalf("position %d:%d, want line 2 near column 28 (%v)", ce.Line, ce.Column, err)
	}
}

// customMQTT is the Python gateway's sample CustomMqttUplinkConverter written as an expression: the device is the
// last topic level, the payload is hex text (with or without 0x), and with the sample's extensionConfig
// {"temperature": 2, "humidity": 2, "batteryLevel": 1} each key takes that many bytes and keeps the last one.
const customMQTT = `let b = fromHex(replace(text, "0x", ""));
{deviceName: split(topic, "/")[-1], deviceType: "Thermostat",
 telemetry: {temperature: b[1], humidity: b[3], batteryLevel: b[4]}}`

func TestCustomMQTTSample(t *testing.T) {
	u, err := NewUplink(customMQTT, Limits{}, Env{Connector: "MQTT Broker Connector"})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := u.Convert("custom/sensors/sensor1", []byte("0x0114002a64"))
	if err != nil {
		t.Fatal(err)
	}
	want := []tbgateway.Record{{Device: "sensor1", DeviceType: "Thermostat", Connector: "MQTT Broker Connector",
		Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"temperature": int64(0x14), "humidity": int64(0x2a), "batteryLevel": int64(0x64)}}}}}
	if !reflect.DeepEqual(recs, want) {
		t.Fatalf("records %+v, want %+v", recs, want)
	}
}

func TestRecords(t *testing.T) {
	base := Env{Device: "meter", DeviceType: "Meter", Connector: "m"}
	for _, tc := range []struct {
		name, src string
		want      []tbgateway.Record
		err       string
	}{
		{name: "nil", src: `nil`},
		{name: "defaults from the device", src: `{attributes: {fw: "1.2", raw: payload[0:2], obj: {a: [1]}, skip: nil}}`,
			want: []tbgateway.Record{{Device: "meter", DeviceType: "Meter", Connector: "m",
				Attributes: map[string]any{"fw": "1.2", "raw": "0102", "obj": tbgateway.RawJSON(`{"a":[1]}`)}}}},
		{name: "ts forms", src: `{deviceName: "d", ts: 5, telemetry: [{a: 1}, {ts: 7, values: {b: 2.5, c: true}}]}`,
			want: []tbgateway.Record{{Device: "d", DeviceType: "Meter", Connector: "m", Telemetry: []tbgateway.Telemetry{
				{TS: 5, Values: map[string]any{"a": int64(1)}}, {TS: 7, Values: map[string]any{"b": 2.5, "c": true}}}}}},
		{name: "list, empty left out", src: `[{deviceName: "a", telemetry: {x: 1}}, nil, {deviceName: "b"}]`,
			want: []tbgateway.Record{{Device: "a", DeviceType: "Meter", Connector: "m", Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"x": int64(1)}}}}}},
		{name: "typo", src: `{deviceName: "a", telemetri: {x: 1}}`, err: `record key "telemetri" is unknown`},
		{name: "not a record", src: `42`, err: "returned an integer"},
		{name: "bad name", src: `{deviceName: 3, telemetry: {x: 1}}`, err: "deviceName is an integer"},
		{name: "too many", src: `map(1..101, # > 0 ? {deviceName: string(#), telemetry: {x: #}} : nil)`, err: "maxRecords"},
		{name: "nan", src: `{telemetry: {x: 0.0 / 0.0}}`, err: "telemetry[0].x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := NewUplink(tc.src, Limits{}, base)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := u.Records(&Env{Payload: []byte{1, 2}, TS: 1})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(recs, tc.want) {
				t.Fatalf("records\n%+v\nwant\n%+v", recs, tc.want)
			}
			for _, r := range recs {
				r.Telemetry = append([]tbgateway.Telemetry(nil), r.Telemetry...)
				for i := range r.Telemetry {
					if r.Telemetry[i].TS == 0 {
						r.Telemetry[i].TS = 1
					}
				}
				if err := r.Validate(); err != nil {
					t.Errorf("record does not validate: %v", err)
				}
			}
		})
	}
}

func TestTSIsReceiveTime(t *testing.T) {
	u, err := NewUplink(`{telemetry: {t: ts}}`, Limits{}, Env{Device: "d"})
	if err != nil {
		t.Fatal(err)
	}
	u.now = func() time.Time { return time.UnixMilli(1234) }
	recs, err := u.Convert("x", nil)
	if err != nil || recs[0].Telemetry[0].Values["t"] != int64(1234) {
		t.Fatalf("records %+v, err %v", recs, err)
	}
}

func TestDownlink(t *testing.T) {
	d, err := NewDownlink(`method == "setSpeed" ? {topic: "cmd/" + device, payload: {speed: params.value}} :
		key == "mode" ? {functionCode: 16, address: 10, registers: [value, 0], coils: [true, false]} : nil`, Limits{}, Env{Device: "fan"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.Eval(&Env{Method: "setSpeed", Params: map[string]any{"value": 3}})
	if err != nil {
		t.Fatal(err)
	}
	topic, _ := r.String("topic")
	payload, _ := r.Payload("payload")
	if topic != "cmd/fan" || string(payload) != `{"speed":3}` {
		t.Fatalf("topic %q payload %s", topic, payload)
	}
	r, err = d.Eval(&Env{Key: "mode", Value: 7})
	if err != nil {
		t.Fatal(err)
	}
	fc, _ := r.Int("functionCode", 0)
	regs, _ := r.Ints("registers")
	coils, _ := r.Bools("coils")
	if fc != 16 || !reflect.DeepEqual(regs, []int{7, 0}) || !reflect.DeepEqual(coils, []bool{true, false}) {
		t.Fatalf("result %v", r)
	}
	if r, err := d.Eval(&Env{Key: "other"}); r != nil || err != nil {
		t.Fatalf("result %v, %v; want nothing to send", r, err)
	}
	if _, err := r.String("registers"); err == nil {
		t.Fatal("registers read as a string")
	}
}

func TestRegistryFactory(t *testing.T) {
	f, ok := tbgateway.LookupConverter(Name)
	if !ok {
		t.Fatal("no expression converter registered")
	}
	c, err := f([]byte(`{"type": "custom", "extension": "expression", "extensionConfig": {"k": "v"}, "expression": "{deviceName: config.k, telemetry: {n: len(payload)}}"}`))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := c.Convert("t", []byte("abc"))
	if err != nil || len(recs) != 1 || recs[0].Device != "v" || recs[0].Telemetry[0].Values["n"] != int64(3) {
		t.Fatalf("records %+v, err %v", recs, err)
	}
	ble, err := f([]byte(`{"name": "Thermo", "MACAddress": "AA:BB:CC:DD:EE:FF", "extension": "expression",
		"expression": "{telemetry: {t: readInt(payload, 0, 2, \"little\") / 100.0, mac: address}}"}`))
	if err != nil {
		t.Fatal(err)
	}
	recs, err = ble.Convert("AA:BB:CC:DD:EE:FF/2a6e", []byte{0x2a, 0x09})
	if err != nil || len(recs) != 1 || recs[0].Device != "Thermo" || recs[0].Telemetry[0].Values["t"] != 23.46 ||
		recs[0].Telemetry[0].Values["mac"] != "AA:BB:CC:DD:EE:FF" {
		t.Fatalf("BLE-shaped records %+v, err %v", recs, err)
	}
	_, err = f([]byte(`{"expression": "payload[", "maxNodes": 10}`))
	if err == nil || !strings.Contains(err.Error(), "expression: line 1, column") {
		t.Fatalf("err = %v, want the key path and position", err)
	}
	if _, err = f([]byte(`{"extension": "expression"}`)); err == nil || !strings.Contains(err.Error(), "expression") {
		t.Fatalf("err = %v, want a missing expression", err)
	}
	if _, err = f([]byte(`{"expression": "1", "budget": 0}`)); err == nil || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("err = %v, want budget out of range", err)
	}
}

// TestRunawayStopped: an expression whose loops would run 27 million times is stopped by the work budget with a
// clear error, and a configured budget is the one applied.
func TestRunawayStopped(t *testing.T) {
	p, err := Compile(`all(1..300, {all(1..300, {all(1..300, {# > 0})})})`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.eval(&Env{})
	if !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "expression failed at line 1") {
		t.Fatalf("err = %v, want the budget exceeded at a position", err)
	}
	small, err := Compile(`len(map(1..100, #))`, Limits{Budget: 50})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := small.eval(&Env{}); !errors.Is(err, ErrBudget) {
		t.Fatalf("budget 50, 100 iterations: err = %v", err)
	}
	if _, err := small.eval(&Env{}); !errors.Is(err, ErrBudget) {
		t.Fatalf("a reused evaluator: err = %v", err)
	}
}

// TestOutputSizeChecked: a record value or a downlink payload that would encode past maxValueBytes is refused
// before it is encoded.
func TestOutputSizeChecked(t *testing.T) {
	env := Env{Device: "d", Payload: []byte(strings.Repeat("x", 1000))}
	u, err := NewUplink(`{telemetry: {x: map(1..30000, text)}}`, Limits{}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Records(&env); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "telemetry[0].x") {
		t.Fatalf("record value: err = %v", err)
	}
	d, err := NewDownlink(`{payload: map(1..30000, text)}`, Limits{}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.Eval(&env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Payload("payload"); !errors.Is(err, ErrLimit) {
		t.Fatalf("downlink payload: err = %v", err)
	}
	// refused before encoding: the 30 MB the encoder would build are never allocated
	p, err := Compile(`toJSON(map(1..30000, text))`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = p.eval(&env)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("toJSON: err = %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Fatalf("refusing the value allocated %d bytes", n)
	}
}
