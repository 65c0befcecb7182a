package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/connectortest"
)

// TestContract runs the connector kit's contract suite. The simulator's device side is its own generated
// readings: Produce sets the device's "marker" series to a new value with the setValue RPC, so the next reading
// carries it; the device side's acknowledgement is the ack log, written only once Send returned nil, and Acked
// counts its readings that carry a produced marker. The counter "seq" makes every reading different, so a
// reading dropped after ErrStorageFull cannot pass for its retry.
func TestContract(t *testing.T) {
	var (
		mu      sync.Mutex
		current *Simulator
		ackPath string
		marker  int64
	)
	connectortest.Contract(t, connectortest.Subject{
		New: func(t *testing.T) tbgateway.Connector {
			path := filepath.Join(t.TempDir(), "acks.jsonl")
			raw := fmt.Sprintf(`{"ackLog": %q, "devices": [{"deviceName": "contract-device", "periodMs": 5,
				"timeseries": [{"key": "marker", "value": 0}, {"key": "seq", "type": "counter"}]}]}`, path)
			cfg, _, err := Decode("contract.json", []byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			s := New(cfg, nil)
			mu.Lock()
			current, ackPath = s, path
			mu.Unlock()
			return s
		},
		Ready: func(ctx context.Context, t *testing.T, sink *connectortest.Sink) {
			if _, err := sink.WaitRecords(ctx, 1); err != nil {
				t.Fatalf("no reading from the simulator: %v", err)
			}
		},
		Produce: func(ctx context.Context, t *testing.T) {
			mu.Lock()
			marker++
			s, params := current, fmt.Sprintf(`{"key": "marker", "value": %d}`, marker)
			mu.Unlock()
			if _, err := s.HandleRPC(ctx, tbgateway.RPCRequest{Device: "contract-device", Method: "setValue", Params: json.RawMessage(params)}); err != nil {
				t.Fatalf("setValue: %v", err)
			}
		},
		Acked: func() int {
			mu.Lock()
			path := ackPath
			mu.Unlock()
			entries, _ := ReadAckLog(path) // absent until the first acknowledgement
			n := 0
			for _, e := range entries {
				if m, ok := e.Values["marker"].(json.Number); ok && m != "0" {
					n++
				}
			}
			return n
		},
		Device: "contract-device",
	})
}
