package opcua

import (
	"encoding/json"
	"flag"
	"fmt"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

var restarts = flag.Int("opcua.restarts", 2, "server restarts in TestServerRestartUnderLoad")

// loadConfig maps the generated devices Dev0..Dev<n-1> of load_nodemap.json, each with vars variables V<j>
// resolved by relative browse path.
func loadConfig(t *testing.T, endpoint string, devices, vars int) *Config {
	t.Helper()
	var mapping []any
	for d := range devices {
		var ts []any
		for j := range vars {
			ts = append(ts, map[string]any{"key": fmt.Sprintf("v%d", j), "type": "path", "value": fmt.Sprintf("${V%d}", j)})
		}
		mapping = append(mapping, map[string]any{
			"deviceNodeSource": "path", "deviceNodePattern": fmt.Sprintf(`Root\.Objects\.Dev%d`, d),
			"deviceInfo": map[string]any{"deviceNameExpression": fmt.Sprintf("Load %d", d)},
			"timeseries": ts,
		})
	}
	raw, _ := json.Marshal(map[string]any{
		// A session timeout of 10 s caps the reconnect back-off at 8 s, so a slow server restart on a loaded
		// machine does not push the next reconnect beyond the test's bound.
		"server": map[string]any{"url": endpoint, "security": "None", "timeoutInMillis": 2000,
			"reconnectBackoffInitialDelay": 0.05, "subCheckPeriodInMillis": 100, "sessionTimeoutInMillis": 10000,
			// Never give up: a restart may outlast the default 8 attempts on a loaded machine.
			"reconnectRetriesCount": 0},
		"mapping": mapping,
	})
	cfg, _, err := Decode("", raw)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestServerRestartUnderLoad subscribes 1,000 changing nodes (10 devices × 100), restarts the server while
// notifications flow, and checks that the connector reconnects, re-subscribes every device and that fresh values
// arrive from every device after each restart.
func TestServerRestartUnderLoad(t *testing.T) {
	p := startPeer(t, "load_nodemap.json")
	ctx := testContext(t)
	sink := newSink()
	runConnector(t, ctx, loadConfig(t, p.URL, 10, 100), sink)
	dataAfter := func(round int) {
		sink.waitFor(t, ctx, fmt.Sprintf("data from every device after connect %d", round), func(recs []tbgateway.Record) bool {
			for d := range 10 {
				// Count data records that arrived after the round-th connect record of the device.
				connects, data := 0, 0
				for _, r := range recs {
					if r.Device != fmt.Sprintf("Load %d", d) {
						continue
					}
					if r.Kind == tbgateway.KindConnect {
						connects++
					} else if connects == round && r.Kind == tbgateway.KindData {
						data++
					}
				}
				// Two data records after the connect: the initial values and at least one change.
				if connects != round || data < 2 {
					return false
				}
			}
			return true
		})
	}
	dataAfter(1)
	for round := 2; round <= *restarts+1; round++ {
		p.restart()
		dataAfter(round)
	}
	_, _, _, disconnects := latestOf(sink.Records(), "Load 0")
	if disconnects != *restarts {
		t.Errorf("disconnect records for Load 0: %d, want %d (one per restart)", disconnects, *restarts)
	}
}

// TestOperationLimits: a server allowing 40 nodes per Read and 30 monitored items per call serves 300 nodes, by
// polling and by subscription; the connector batches its requests to those limits (the server would refuse a
// larger request with BadTooManyOperations).
func TestOperationLimits(t *testing.T) {
	p := startPeer(t, "limits_nodemap.json")
	for _, mode := range []string{"polling", "subscription"} {
		t.Run(mode, func(t *testing.T) {
			ctx := testContext(t)
			cfg := loadConfig(t, p.URL, 2, 150)
			if mode == "polling" {
				off := false
				cfg.Server.EnableSubscriptions = &off
				cfg.Server.PollPeriodInMillis = 100
			}
			sink := newSink()
			c := runConnector(t, ctx, cfg, sink)
			sink.waitFor(t, ctx, "every value of both devices", func(recs []tbgateway.Record) bool {
				for d := range 2 {
					if got, _, _, _ := latestOf(recs, fmt.Sprintf("Load %d", d)); len(got) < 150 {
						return false
					}
				}
				return true
			})
			s, err := c.current()
			if err != nil {
				t.Fatal(err)
			}
			if s.readBatch != 40 || s.monBatch != 30 {
				t.Errorf("limits read from the server: read %d, monitor %d; want 40, 30", s.readBatch, s.monBatch)
			}
		})
	}
}
