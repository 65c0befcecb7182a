package opcua

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/runtime"
)

// TestReconnectRetriesPeerGone: the node-opcua server stops for good. With reconnectRetriesCount 3 the
// connector reports its device disconnected, fails three connection attempts and Run returns an error wrapping
// ErrRetriesExhausted; under the runtime's supervisor that is a connector failure (logged, its last error) and
// the restart policy starts it again, and the new run gives up the same way.
func TestReconnectRetriesPeerGone(t *testing.T) {
	p := startPeer(t, "nodemap.json")
	ctx := testContext(t)
	raw, _ := json.Marshal(map[string]any{
		"server": map[string]any{"url": p.URL, "security": "None", "timeoutInMillis": 2000,
			"reconnectRetriesCount": 3, "reconnectBackoffInitialDelay": 0.05, "reconnectBackoffFactor": 1},
		"mapping": []any{map[string]any{
			"deviceNodePattern": `Root\.Objects\.TempSensor`,
			"deviceInfo":        map[string]any{"deviceNameExpression": "Gone"},
			"timeseries":        []any{pathKey("pressure", "Pressure")},
		}},
	})
	cfg, _, err := Decode("gone.json", raw)
	if err != nil {
		t.Fatal(err)
	}
	logs := newLogRecorder()
	c, err := New("OPC-UA", cfg, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	sink := newSink()
	runs := make(chan error, 64)
	stats := &runtime.SupervisorStats{}
	sctx, stop := context.WithCancel(ctx)
	supervised := make(chan struct{})
	go func() {
		defer close(supervised)
		runtime.Supervise(sctx, "connector OPC-UA", func(ctx context.Context) error {
			err := c.Run(ctx, sink)
			select {
			case runs <- err:
			default:
			}
			return err
		}, backoff.Policy{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Jitter: -1}, slog.New(logs), stats)
	}()
	defer func() {
		stop()
		<-supervised
	}()
	sink.waitFor(t, ctx, "the device's first value", func(recs []tbgateway.Record) bool {
		got, _, _, _ := latestOf(recs, "Gone")
		return got["pressure"] != nil
	})
	p.Stop()
	for i := 1; i <= 2; i++ {
		select {
		case err := <-runs:
			if !errors.Is(err, ErrRetriesExhausted) || !strings.Contains(err.Error(), "3 connection attempts in a row failed") {
				t.Fatalf("run %d returned %v, want ErrRetriesExhausted after 3 attempts", i, err)
			}
		case <-ctx.Done():
			t.Fatalf("run %d did not give up: %v\n%s", i, ctx.Err(), logs.text())
		}
	}
	if _, _, _, disconnects := latestOf(sink.Records(), "Gone"); disconnects != 1 {
		t.Errorf("%d disconnect records, want 1", disconnects)
	}
	if !errors.Is(stats.LastError(), ErrRetriesExhausted) || stats.Restarts() < 1 {
		t.Errorf("supervisor: last error %v, %d restarts", stats.LastError(), stats.Restarts())
	}
	if logs.count("ERROR task failed; restarting", "task=connector OPC-UA", "reconnect retries exhausted") != 1 {
		t.Errorf("the failure is not logged once by the supervisor:\n%s", logs.text())
	}
}
