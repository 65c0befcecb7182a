package expression

import (
	"strings"
	"testing"
)

// FuzzUplink feeds arbitrary payloads and topics to expression converters of the documented kinds: evaluation
// never panics, and every record it returns passes the record validation once stamped.
func FuzzUplink(f *testing.F) {
	srcs := []string{
		customMQTT,
		`{deviceName: json?.name ?? "d", telemetry: json?.values ?? {raw: text}}`,
		`len(payload) < 6 ? nil : {deviceName: toHex(payload[0:2]), telemetry: {f: readFloat(payload, 2, 4, "big", "little"), i: readInt(payload, 0, 2, "little")}}`,
		`map(split(text, ";"), let v = #; {deviceName: topic, telemetry: {v: v}})`,
	}
	var convs []*Uplink
	for _, s := range srcs {
		u, err := NewUplink(s, Limits{MaxPayloadBytes: 4096}, Env{Connector: "fuzz"})
		if err != nil {
			f.Fatal(err)
		}
		convs = append(convs, u)
	}
	f.Add("custom/sensors/s1", []byte("0x0114002a64"))
	f.Add("a", []byte(`{"name": "n", "values": {"t": 1.5, "o": {"x": [1]}}}`))
	f.Add("b", []byte{0x12, 0x34, 0x3f, 0x80, 0, 0, 1})
	f.Add("c", []byte("1;2;;x"))
	f.Add("", []byte(`{"name": "", "values": {"": 1e999}}`))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		for _, u := range convs {
			recs, err := u.Convert(topic, payload)
			if err != nil {
				continue
			}
			for _, r := range recs {
				for i := range r.Telemetry {
					if r.Telemetry[i].TS == 0 {
						r.Telemetry[i].TS = 1
					}
				}
				// blank or long keys and deep JSON from a payload are the sink's to refuse; the converter
				// never builds a value of a type records do not hold
				if err := r.Validate(); err != nil && badValue(err) {
					t.Fatalf("record %+v: %v", r, err)
				}
			}
		}
	})
}

func badValue(err error) bool {
	return strings.Contains(err.Error(), "unsupported value type") || strings.Contains(err.Error(), "not a JSON number") ||
		strings.Contains(err.Error(), "empty device name")
}

// FuzzExpression compiles arbitrary expression text under small limits and evaluates what compiles on a fixed
// message: nothing panics, and every evaluation either returns or stops with an error.
func FuzzExpression(f *testing.F) {
	for _, s := range []string{customMQTT, `{deviceName: json?.name ?? "d", telemetry: json?.values ?? {raw: text}}`,
		`map(split(text, ";"), let v = #; {deviceName: topic, telemetry: {v: v}})`, `reduce(1..20, #acc + #acc, "x")`,
		`all(1..300, {all(1..300, {# > 0})})`, `toJSON(map(1..100, payload))`, `{registers: [int(value * 10)]}`} {
		f.Add(s)
	}
	limits := Limits{MaxNodes: 200, Budget: 5000, MaxValueBytes: 4096, MaxRecords: 10}
	f.Fuzz(func(t *testing.T, src string) {
		u, err := NewUplink(src, limits, Env{Device: "d"})
		if err != nil {
			return
		}
		_, _ = u.Records(&Env{Topic: "a/b", Payload: []byte(`{"name": "n", "values": {"t": 1}}`), Value: 2.5})
	})
}
