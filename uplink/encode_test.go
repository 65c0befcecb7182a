package uplink

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/tbgateway/tbgateway"
)

func TestAppendFloatIsDouble(t *testing.T) {
	cases := map[float64]string{
		42:                  "42.0",
		-3:                  "-3.0",
		1.5:                 "1.5",
		0.1:                 "0.1",
		1e21:                "1000000000000000000000.0",
		0.30000000000000004: "0.3",
		1.25e-7:             "0.000000125",
	}
	for f, want := range cases {
		if got := string(appendFloat(nil, f)); got != want {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
	// Below 1e-6 with more than 16 fractional digits the exponent form keeps the value.
	if got := string(appendFloat(nil, 1.6e-19)); got != "1.6e-19" {
		t.Errorf("appendFloat(1.6e-19) = %s", got)
	}
}

func TestAppendValueTypes(t *testing.T) {
	cases := []struct {
		v    any
		want string
		ok   bool
	}{
		{int64(-7), "-7", true},
		{true, "true", true},
		{"a\"b\\c\n\x01é", `"a\"b\\c\n\u0001é"`, true},
		{"bad\xffutf8", `"bad\ufffdutf8"`, true},
		{tbgateway.RawJSON(`{"a":[1,2]}`), `{"a":[1,2]}`, true},
		{tbgateway.RawJSON(`{"a":`), "", false},
		{math.NaN(), "", false},
	}
	for _, c := range cases {
		got, ok := appendValue(nil, c.v)
		if ok != c.ok || (ok && string(got) != c.want) {
			t.Errorf("appendValue(%#v) = %q, %v; want %q, %v", c.v, got, ok, c.want, c.ok)
		}
	}
}

// FuzzEncodeKV checks that every encoded key/value is valid JSON that decodes to the same key and value
// (floats within the documented rounding to 16 fractional digits).
func FuzzEncodeKV(f *testing.F) {
	f.Add("temp", "x\"y", int64(5), 1.5, true)
	f.Add("\x00\xff", "\u2028\t", int64(-1<<63), 0.30000000000000004, false)
	f.Add("k", "", int64(0), 1e300, true)
	f.Add("k", "z", int64(1), -1.6e-19, false)
	f.Fuzz(func(t *testing.T, key, s string, i int64, fl float64, b bool) {
		if math.IsNaN(fl) || math.IsInf(fl, 0) {
			return
		}
		values := map[string]any{key: s, key + "i": i, key + "f": fl, key + "b": b}
		obj, err := encodeObject(values)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(obj) {
			t.Fatalf("invalid JSON: %s", obj)
		}
		dec := json.NewDecoder(strings.NewReader(string(obj)))
		dec.UseNumber()
		var got map[string]any
		if err := dec.Decode(&got); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(values) {
			t.Fatalf("decoded %d keys from %s, want %d", len(got), obj, len(values))
		}
		if want := stdJSONString(s); validUTF8(key) && got[key] != want {
			t.Fatalf("string: got %q want %q (as encoding/json coerces it)", got[key], want)
		}
		if validUTF8(key) {
			if n := got[key+"i"].(json.Number); string(n) != strconv.FormatInt(i, 10) {
				t.Fatalf("int: got %s want %d", n, i)
			}
			n := string(got[key+"f"].(json.Number))
			if !strings.Contains(n, ".") && !strings.Contains(n, "e") {
				t.Fatalf("float %v written as %s: no '.' or exponent", fl, n)
			}
			back, err := strconv.ParseFloat(n, 64)
			if err != nil || math.Abs(back-fl) > 1e-16*math.Max(1, math.Abs(fl)) {
				t.Fatalf("float: wrote %s for %v", n, fl)
			}
			if got[key+"b"] != b {
				t.Fatalf("bool: got %v want %v", got[key+"b"], b)
			}
		}
	})
}

// stdJSONString is s after an encoding/json round trip (invalid bytes become U+FFFD one by one).
func stdJSONString(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// FuzzPacker packs records with arbitrary names and values under an arbitrary limit: every message is valid
// JSON within the limit, and every value that was not dead-lettered arrives unchanged.
func FuzzPacker(f *testing.F) {
	f.Add("dev\"1", "k\\", "v\n", 2.5, uint16(600))
	f.Add("\xff", "\x00", "\xe2\x80", -0.0, uint16(0))
	f.Fuzz(func(t *testing.T, dev, key, sval string, fl float64, limit uint16) {
		if math.IsNaN(fl) || math.IsInf(fl, 0) || !validUTF8(dev) || !validUTF8(key) || strings.TrimSpace(dev) == "" {
			return
		}
		pk := newPacker(minPacketSize + int(limit))
		var recs []tbgateway.Record
		for i := range 20 {
			recs = append(recs, tbgateway.Record{Device: dev, Attributes: map[string]any{key: sval},
				Telemetry: []tbgateway.Telemetry{{TS: int64(i + 1), Values: map[string]any{key: fl, key + "s": sval}}}})
		}
		msgs, dead, _ := packAll(pk, recs)
		var tels, attrs int
		for _, m := range msgs {
			if !json.Valid(m.payload) || len(m.payload) > payloadLimit(pk.limit, m.topic) {
				t.Fatalf("bad message (%d bytes): %s", len(m.payload), m.payload)
			}
			if m.topic == topicGwAttributes {
				var a map[string]map[string]string
				if err := json.Unmarshal(m.payload, &a); err != nil || a[dev][key] != stdJSONString(sval) {
					t.Fatalf("attributes %s (%v)", m.payload, err)
				}
				attrs++
				continue
			}
			var tm map[string][]struct {
				TS     int64
				Values map[string]any
			}
			if err := json.Unmarshal(m.payload, &tm); err != nil {
				t.Fatal(err)
			}
			for _, e := range tm[dev] {
				for k, v := range e.Values {
					switch k {
					case key:
						if g := v.(float64); math.Abs(g-fl) > 1e-16*math.Max(1, math.Abs(fl)) {
							t.Fatalf("float %v arrived as %v", fl, g)
						}
						tels++
					case key + "s":
						if v != stdJSONString(sval) {
							t.Fatalf("string %q arrived as %q", sval, v)
						}
						tels++
					default:
						t.Fatalf("unexpected key %q", k)
					}
				}
			}
		}
		if attrs+len(dead) < 20 || tels+len(dead) < 40 {
			t.Fatalf("values lost: %d attribute messages, %d telemetry values, %d dead", attrs, tels, len(dead))
		}
	})
}
