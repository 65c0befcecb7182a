package uplink

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/tbgateway/tbgateway"
)

type telElem struct {
	TS     int64          `json:"ts"`
	Values map[string]any `json:"values"`
}

func decodeTelemetry(t *testing.T, payload []byte) map[string][]telElem {
	t.Helper()
	var m map[string][]telElem
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatalf("telemetry payload is not gateway JSON: %v: %s", err, payload)
	}
	return m
}

func tel(dev string, ts int64, kv ...any) tbgateway.Record {
	vals := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		vals[kv[i].(string)] = kv[i+1]
	}
	return tbgateway.Record{Device: dev, Telemetry: []tbgateway.Telemetry{{TS: ts, Values: vals}}}
}

func packAll(pk *packer, recs []tbgateway.Record) ([]*outMsg, []deadValue, map[uint64]int) {
	parts := map[uint64]int{}
	for i := range recs {
		e := tbgateway.Entry{Seq: uint64(i + 1), Record: recs[i]}
		parts[e.Seq] = pk.add(&e)
	}
	pk.flush()
	msgs, dead := pk.take()
	return msgs, dead, parts
}

func TestPackerGroupsDevicesInOneMessage(t *testing.T) {
	pk := newPacker(65536)
	recs := []tbgateway.Record{
		tel("A", 1, "t", 1.5), tel("B", 1, "h", int64(3)), tel("A", 2, "t", 2.5),
		{Device: "A", Attributes: map[string]any{"fw": "1.0"}},
	}
	msgs, dead, parts := packAll(pk, recs)
	if len(dead) != 0 || len(msgs) != 2 {
		t.Fatalf("got %d messages, %d dead; want 2, 0", len(msgs), len(dead))
	}
	if msgs[0].topic != topicGwTelemetry || msgs[1].topic != topicGwAttributes {
		t.Fatalf("topics %s, %s", msgs[0].topic, msgs[1].topic)
	}
	want := `{"A":[{"ts":1,"values":{"t":1.5}},{"ts":2,"values":{"t":2.5}}],"B":[{"ts":1,"values":{"h":3}}]}`
	if string(msgs[0].payload) != want {
		t.Fatalf("telemetry payload\n got %s\nwant %s", msgs[0].payload, want)
	}
	if string(msgs[1].payload) != `{"A":{"fw":"1.0"}}` {
		t.Fatalf("attributes payload %s", msgs[1].payload)
	}
	for seq, n := range parts {
		if n != 1 {
			t.Fatalf("record %d has %d parts, want 1", seq, n)
		}
	}
	if !reflect.DeepEqual(msgs[0].seqs, []uint64{1, 2, 3}) || msgs[0].datapoints != 3 {
		t.Fatalf("seqs %v datapoints %d", msgs[0].seqs, msgs[0].datapoints)
	}
}

// Every element below encodes to the same size, so the number per message is known exactly.
func TestPackerSplitsExactlyAtTheLimit(t *testing.T) {
	elem := `{"ts":1000000000000,"values":{"v":1234}}` // 40 bytes
	head := `{"D":[`                                   // then elements joined by ',' then "]}"
	const perMsg = 7
	exact := len(head) + perMsg*len(elem) + (perMsg - 1) + 2
	packetLimit := exact + publishOverhead + len(topicGwTelemetry)
	var recs []tbgateway.Record
	for range 3*perMsg + 2 {
		recs = append(recs, tel("D", 1000000000000, "v", int64(1234)))
	}
	for _, limit := range []int{packetLimit, packetLimit + len(elem)} { // one byte short of one more element
		pk := newPacker(limit)
		msgs, dead, _ := packAll(pk, recs)
		if len(dead) != 0 {
			t.Fatalf("dead values: %v", dead)
		}
		if len(msgs) != 4 {
			t.Fatalf("limit %d: %d messages, want 4", limit, len(msgs))
		}
		for i, m := range msgs[:3] {
			if len(m.payload) != exact {
				t.Fatalf("limit %d: message %d has %d bytes, want exactly %d", limit, i, len(m.payload), exact)
			}
			if len(m.payload) > payloadLimit(limit, m.topic) {
				t.Fatalf("message over the limit")
			}
		}
	}
	// One byte more than the exact size lets nothing more in; the exact size is used to the byte.
	pk := newPacker(packetLimit - 1)
	msgs, _, _ := packAll(pk, recs[:perMsg])
	if len(msgs) != 2 {
		t.Fatalf("one byte under the exact size must split %d elements in 2 messages, got %d", perMsg, len(msgs))
	}
}

func TestPackerSplitsBigRecordByEntriesAndKeys(t *testing.T) {
	const limit = 600
	rec := tbgateway.Record{Device: "big"}
	want := map[int64]map[string]any{}
	for ts := int64(1); ts <= 5; ts++ {
		vals := map[string]any{}
		for k := range 40 {
			vals[fmt.Sprintf("key%02d", k)] = int64(k) * ts
		}
		rec.Telemetry = append(rec.Telemetry, tbgateway.Telemetry{TS: ts, Values: vals})
		want[ts] = vals
	}
	rec.Attributes = map[string]any{}
	for k := range 60 {
		rec.Attributes[fmt.Sprintf("attr%02d", k)] = strings.Repeat("x", 20)
	}
	pk := newPacker(limit)
	msgs, dead, parts := packAll(pk, []tbgateway.Record{rec})
	if len(dead) != 0 {
		t.Fatalf("dead: %v", dead)
	}
	if parts[1] != len(msgs) || len(msgs) < 4 {
		t.Fatalf("record parts %d, messages %d", parts[1], len(msgs))
	}
	got := map[int64]map[string]any{}
	gotAttrs := map[string]any{}
	lastTS := int64(0)
	for _, m := range msgs {
		if len(m.payload) > payloadLimit(limit, m.topic) {
			t.Fatalf("message of %d bytes over the limit", len(m.payload))
		}
		if m.topic == topicGwAttributes {
			var a map[string]map[string]any
			if err := json.Unmarshal(m.payload, &a); err != nil {
				t.Fatal(err)
			}
			for k, v := range a["big"] {
				gotAttrs[k] = v
			}
			continue
		}
		for _, e := range decodeTelemetry(t, m.payload)["big"] {
			if e.TS < lastTS {
				t.Fatalf("ts %d after %d: order broken", e.TS, lastTS)
			}
			lastTS = e.TS
			if got[e.TS] == nil {
				got[e.TS] = map[string]any{}
			}
			for k, v := range e.Values {
				got[e.TS][k] = int64(v.(float64))
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("telemetry changed by splitting")
	}
	if len(gotAttrs) != 60 {
		t.Fatalf("%d attributes arrived, want 60", len(gotAttrs))
	}
}

func TestPackerKeepsOrderAroundConnectAndDisconnect(t *testing.T) {
	pk := newPacker(65536)
	recs := []tbgateway.Record{
		tel("A", 1, "v", int64(1)),
		{Device: "B", Kind: tbgateway.KindConnect, DeviceType: "thermo"},
		tel("B", 2, "v", int64(2)),
		{Device: "A", Kind: tbgateway.KindDisconnect},
		tel("A", 3, "v", int64(3)),
		{Device: "A", Kind: tbgateway.KindConnect},
	}
	msgs, _, _ := packAll(pk, recs)
	var seq []string
	for _, m := range msgs {
		switch m.topic {
		case topicGwTelemetry:
			for dev, es := range decodeTelemetry(t, m.payload) {
				for _, e := range es {
					seq = append(seq, fmt.Sprintf("%s:data%d", dev, e.TS))
				}
			}
		default:
			var h struct{ Device, Type string }
			_ = json.Unmarshal(m.payload, &h)
			seq = append(seq, h.Device+":"+strings.TrimPrefix(m.topic, "v1/gateway/")+h.Type)
		}
	}
	pos := map[string]int{}
	for i, s := range seq {
		pos[s] = i
	}
	for _, pair := range [][2]string{{"A:data1", "A:disconnect"}, {"A:disconnect", "A:data3"},
		{"A:data3", "A:connectdefault"}, {"B:connectthermo", "B:data2"}} {
		if pos[pair[0]] >= pos[pair[1]] {
			t.Fatalf("%s must come before %s; got %v", pair[0], pair[1], seq)
		}
	}
}

func TestPackerDeadLettersValuesThatCannotBeSent(t *testing.T) {
	pk := newPacker(minPacketSize)
	recs := []tbgateway.Record{
		tel("A", 1, "huge", strings.Repeat("y", minPacketSize), "ok", int64(1)),
		tel("A", 2, "raw", tbgateway.RawJSON(`{bad`)),
	}
	msgs, dead, parts := packAll(pk, recs)
	if len(dead) != 2 || dead[0].key != "huge" || dead[1].key != "raw" {
		t.Fatalf("dead = %+v", dead)
	}
	if parts[1] != 1 || parts[2] != 0 || len(msgs) != 1 {
		t.Fatalf("parts %v, %d messages", parts, len(msgs))
	}
}

func TestPackerDuplicateAttributeKeyStartsNewMessage(t *testing.T) {
	pk := newPacker(65536)
	recs := []tbgateway.Record{
		{Device: "A", Attributes: map[string]any{"x": int64(1)}},
		{Device: "A", Attributes: map[string]any{"x": int64(2)}},
	}
	msgs, _, _ := packAll(pk, recs)
	if len(msgs) != 2 || string(msgs[0].payload) != `{"A":{"x":1}}` || string(msgs[1].payload) != `{"A":{"x":2}}` {
		t.Fatalf("messages: %d", len(msgs))
	}
}

func TestPackerDatapointCapPerMessage(t *testing.T) {
	pk := newPacker(65536)
	pk.maxDP = 3
	rec := tel("A", 1, "a", int64(1), "b", int64(2), "c", int64(3), "d", int64(4), "e", int64(5))
	msgs, _, _ := packAll(pk, []tbgateway.Record{rec})
	if len(msgs) != 2 || msgs[0].datapoints != 3 || msgs[1].datapoints != 2 {
		t.Fatalf("got %d messages", len(msgs))
	}
}

// Random records through random limits: every message within the limit and valid JSON, every device's
// telemetry in order and complete.
func TestPackerRandomOrderAndLimits(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		limit := minPacketSize + rnd.IntN(4000)
		pk := newPacker(limit)
		var recs []tbgateway.Record
		want := map[string][]string{}
		ts := int64(0)
		for range 200 {
			dev := fmt.Sprintf("dev-%d\"é", rnd.IntN(5))
			ts++
			vals := map[string]any{}
			for k := range 1 + rnd.IntN(8) {
				key := fmt.Sprintf("k%d", k)
				vals[key] = strings.Repeat("v", rnd.IntN(60))
				want[dev] = append(want[dev], fmt.Sprintf("%d/%s", ts, key))
			}
			recs = append(recs, tbgateway.Record{Device: dev, Telemetry: []tbgateway.Telemetry{{TS: ts, Values: vals}}})
		}
		msgs, dead, _ := packAll(pk, recs)
		if len(dead) != 0 {
			t.Fatalf("round %d: dead %v", round, dead)
		}
		got := map[string][]string{}
		for _, m := range msgs {
			if len(m.payload) > payloadLimit(limit, m.topic) {
				t.Fatalf("round %d: %d bytes over limit %d", round, len(m.payload), limit)
			}
			for dev, es := range decodeTelemetry(t, m.payload) {
				for _, e := range es {
					var keys []string
					for k := range e.Values {
						keys = append(keys, k)
					}
					sortStrings(keys)
					for _, k := range keys {
						got[dev] = append(got[dev], fmt.Sprintf("%d/%s", e.TS, k))
					}
				}
			}
		}
		for dev, w := range want {
			g := got[dev]
			// keys within one ts come in map order; compare per ts as sets, ts order strictly
			if len(g) != len(w) || !sameTSOrder(g, w) {
				t.Fatalf("round %d device %s: order or content changed", round, dev)
			}
		}
	}
}

func sameTSOrder(got, want []string) bool {
	group := func(xs []string) []string {
		var out []string
		cur, set := "", []string{}
		flush := func() {
			if cur != "" {
				sortStrings(set)
				out = append(out, cur+":"+strings.Join(set, ","))
			}
		}
		for _, x := range xs {
			ts, k, _ := strings.Cut(x, "/")
			if ts != cur {
				flush()
				cur, set = ts, nil
			}
			set = append(set, k)
		}
		flush()
		return out
	}
	return reflect.DeepEqual(group(got), group(want))
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestPackerLatencyMetadata: with latency metadata on, each telemetry entry of a record that names its connector
// and reception time carries {"connector","receivedTs","publishedTs"}, split entries included; other records and
// attributes carry none.
func TestPackerLatencyMetadata(t *testing.T) {
	pk := newPacker(65536)
	pk.publishedTS = func() int64 { return 1_700_000_000_900 }
	withMeta := tbgateway.Record{Device: "A", Connector: "mqtt 1", ReceivedTS: 1_700_000_000_500,
		Attributes: map[string]any{"fw": "x"},
		Telemetry:  []tbgateway.Telemetry{{TS: 1, Values: map[string]any{"t": 1.5}}, {TS: 2, Values: map[string]any{"t": 2.5}}}}
	noReceived := tel("B", 3, "h", int64(3))
	noReceived.Connector = "mqtt 1"
	msgs, dead, _ := packAll(pk, []tbgateway.Record{withMeta, noReceived})
	if len(dead) != 0 || len(msgs) != 2 {
		t.Fatalf("got %d messages, %d dead; want 2, 0", len(msgs), len(dead))
	}
	const meta = `"metadata":{"connector":"mqtt 1","receivedTs":1700000000500,"publishedTs":1700000000900},`
	want := `{"A":[{"ts":1,` + meta + `"values":{"t":1.5}},{"ts":2,` + meta + `"values":{"t":2.5}}],"B":[{"ts":3,"values":{"h":3}}]}`
	if got := string(msgs[0].payload); got != want {
		t.Fatalf("telemetry payload\n%s\nwant\n%s", got, want)
	}
	if got := string(msgs[1].payload); got != `{"A":{"fw":"x"}}` {
		t.Fatalf("attributes payload %s carries metadata", got)
	}

	off := newPacker(65536)
	msgs, _, _ = packAll(off, []tbgateway.Record{withMeta})
	if strings.Contains(string(msgs[0].payload), "metadata") {
		t.Fatalf("latency metadata sent while off: %s", msgs[0].payload)
	}
}
