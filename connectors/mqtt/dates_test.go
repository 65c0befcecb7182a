package mqtt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a log destination safe for the tracker's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), substr)
}

// tsConnector is a connector with one json mapping on "dev/+" whose key "t" takes its timestamp from the
// payload's "time" with the given dayfirst and yearfirst.
func tsConnector(t *testing.T, dayFirst, yearFirst bool, log *slog.Logger) (*Connector, *JSONConverter) {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{
		"broker": map[string]any{"host": "127.0.0.1"},
		"mapping": []any{map[string]any{"topicFilter": "dev/+", "converter": map[string]any{
			"type":       "json",
			"deviceInfo": map[string]any{"deviceNameExpressionSource": "message", "deviceNameExpression": "${name}"},
			"timeseries": []any{map[string]any{"key": "t", "type": "int", "value": "${t}", "tsField": "${time}",
				"dayfirst": dayFirst, "yearfirst": yearFirst}},
		}}},
	})
	cfg, _, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	return c, c.c.mappings[0].conv.(*JSONConverter)
}

// TestTSFieldDayFirstYearFirst: the json converter stamps a reading with its tsField date read with the
// mapping's dayfirst and yearfirst, giving the epoch milliseconds dateutil gave (the table's rows).
func TestTSFieldDayFirstYearFirst(t *testing.T) {
	table := loadDateTable(t)
	const in = "10.11.25 10:35:12.123 +0200" // the Python gateway's test date, with a zone: the gateway's own does not matter
	seen := map[int64]bool{}
	for _, r := range table.Rows {
		if r.TZ != "UTC" || r.In != in || r.MS == nil {
			continue
		}
		t.Run(fmt.Sprintf("dayfirst=%v,yearfirst=%v", r.DayFirst, r.YearFirst), func(t *testing.T) {
			_, jc := tsConnector(t, r.DayFirst, r.YearFirst, nil)
			recs, err := jc.Convert("dev/1", []byte(`{"name": "D1", "t": 1, "time": "`+in+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := recs[0].Telemetry[0].TS; got != *r.MS {
				t.Errorf("ts %d, dateutil %d", got, *r.MS)
			}
		})
		seen[*r.MS] = true
	}
	if len(seen) < 3 {
		t.Fatalf("the table gives %d distinct readings of %q; want dayfirst and yearfirst to matter", len(seen), in)
	}
}

// TestTSFieldUnreadableDate: a date the parser cannot read keeps the message's "ts" (the Python gateway's
// fallback), or TS 0 (stamped at receipt) without one, and is logged once per device and key while it keeps
// failing, with the device, the topic and the key; a readable date ends the episode.
func TestTSFieldUnreadableDate(t *testing.T) {
	var buf lockedBuffer
	_, jc := tsConnector(t, false, false, slog.New(slog.NewTextHandler(&buf, nil)))
	convert := func(payload string) int64 {
		t.Helper()
		recs, err := jc.Convert("dev/7", []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		return recs[0].Telemetry[0].TS
	}
	if ts := convert(`{"name": "D7", "t": 1, "time": "yesterday-ish", "ts": 1700000000000}`); ts != 1700000000000 {
		t.Errorf("unreadable date: ts %d, want the message's ts 1700000000000", ts)
	}
	if ts := convert(`{"name": "D7", "t": 2, "time": "10:00 CEST 2020-01-01"}`); ts != 0 {
		t.Errorf("unreadable date without a message ts: ts %d, want 0 (stamped at receipt)", ts)
	}
	if n := buf.lines(`level=WARN msg="device fault"`); n != 1 {
		t.Fatalf("%d warnings for one failing device key, want 1:\n%s", n, buf.b.String())
	}
	if n := buf.lines(`device=D7 topic=dev/7 key=t`); n != 1 {
		t.Errorf("the warning does not name device, topic and key:\n%s", buf.b.String())
	}
	if n := buf.lines(`yesterday-ish`); n != 1 {
		t.Errorf("the warning does not quote the date:\n%s", buf.b.String())
	}
	if ts := convert(`{"name": "D7", "t": 3, "time": "2025-10-20T11:53:37.637Z"}`); ts != 1760961217637 {
		t.Errorf("readable date: ts %d", ts)
	}
	if n := buf.lines(`msg="device fault cleared"`); n != 1 {
		t.Errorf("no recovery line after a readable date:\n%s", buf.b.String())
	}
}
