package simulator

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

// countingSink accepts records and cancels the run after n sends.
type countingSink struct {
	n      int
	cancel context.CancelFunc
}

func (c *countingSink) Send(ctx context.Context, recs ...tbgateway.Record) error {
	if c.n--; c.n == 0 {
		c.cancel()
	}
	return nil
}
func (c *countingSink) RequestAttributes(context.Context, string, bool, []string) (map[string]any, error) {
	return nil, tbgateway.ErrNotConnected
}
func (c *countingSink) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestAckLogRecordsAcceptedTelemetry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acks.jsonl")
	cfg, _, err := Decode("sim.json", []byte(`{"ackLog":`+jsonString(path)+`,"devices":[{"deviceName":"A","periodMs":1,
		"attributes":[{"key":"model","value":"x"}],"timeseries":[{"key":"seq","type":"counter","value":1}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// One attribute record, then five telemetry records; the sixth send cancels.
	if err := New(cfg, nil).Run(ctx, &countingSink{n: 6, cancel: cancel}); err != nil {
		t.Fatal(err)
	}
	entries, err := ReadAckLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 4 {
		t.Fatalf("%d ack log entries, want the telemetry records accepted before the cancel: %+v", len(entries), entries)
	}
	for i, e := range entries {
		if e.Device != "A" || e.TS <= 0 || e.Values["seq"] != json.Number(itoa(i+1)) {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
	// A torn last line (a killed process) is skipped.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"device":"A","ts":`)
	f.Close()
	again, err := ReadAckLog(path)
	if err != nil || len(again) != len(entries) {
		t.Fatalf("with a torn line: %d entries, %v", len(again), err)
	}
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }
func itoa(i int) string          { b, _ := json.Marshal(i); return string(b) }
