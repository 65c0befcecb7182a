package opcua

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"
	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/connectortest"
)

// contractNode is the variable the contract's device side writes (testdata/contract_nodemap.json).
var contractNode = ua.MustParseNodeID("ns=2;s=ContractDevice.Reading")

// TestContract runs the connector kit's contract suite against the node-opcua peer. The device side is a second
// OPC-UA client that writes a new value into the node the connector subscribes to, so the next notification
// carries a new reading. OPC-UA has no acknowledgement the server could observe (the client library
// acknowledges notifications by itself), so the acknowledgement check is skipped; the retry after a full storage
// is the connector's reconnect, which reads the node's current value again.
func TestContract(t *testing.T) {
	p := startPeer(t, "contract_nodemap.json")
	ctx := testContext(t)
	write := nodeWriter(t, ctx, p.URL)
	var value atomic.Int64
	raw, _ := json.Marshal(map[string]any{
		"server": map[string]any{"url": p.URL, "security": "None", "timeoutInMillis": 2000,
			"reconnectBackoffInitialDelay": 0.05, "subCheckPeriodInMillis": 100},
		"mapping": []any{map[string]any{
			"deviceNodePattern": `Root\.Objects\.ContractDevice`,
			"deviceInfo":        map[string]any{"deviceNameExpression": "contract-device"},
			"timeseries":        []any{map[string]any{"key": "reading", "type": "path", "value": "${Reading}"}},
		}},
	})
	connectortest.Contract(t, connectortest.Subject{
		New: func(t *testing.T) tbgateway.Connector {
			cfg, _, err := Decode("contract.json", raw)
			if err != nil {
				t.Fatal(err)
			}
			c, err := New("OPC-UA", cfg, testLogger())
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
		// The first reading of the node arrives once the subscription is in place.
		Ready: func(ctx context.Context, t *testing.T, sink *connectortest.Sink) {
			err := sink.Await(ctx, func(stored []tbgateway.Record, _ []connectortest.Attempt, _ int) bool {
				for _, r := range stored {
					if r.Device == "contract-device" && r.Datapoints() > 0 {
						return true
					}
				}
				return false
			})
			if err != nil {
				t.Fatalf("no reading of the contract node: %v", err)
			}
		},
		Produce: func(ctx context.Context, t *testing.T) {
			if err := write(ctx, float64(value.Add(1))); err != nil {
				t.Fatalf("write the contract node: %v", err)
			}
		},
		Device:  "contract-device",
		Timeout: testTimeout,
	})
}

// nodeWriter connects a second client to the server (closed at the end of the test) and returns a function that
// writes a Double into contractNode.
func nodeWriter(t *testing.T, ctx context.Context, url string) func(context.Context, float64) error {
	t.Helper()
	cl, err := opcua.NewClient(url, opcua.SecurityMode(ua.MessageSecurityModeNone), opcua.AutoReconnect(false))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Connect(ctx); err != nil {
		t.Fatalf("device-side client: %v", err)
	}
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	return func(ctx context.Context, v float64) error {
		res, err := cl.Write(ctx, &ua.WriteRequest{NodesToWrite: []*ua.WriteValue{{
			NodeID: contractNode, AttributeID: ua.AttributeIDValue,
			Value: &ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(v)},
		}}})
		if err != nil {
			return err
		}
		if res.Results[0] != ua.StatusOK {
			return res.Results[0]
		}
		return nil
	}
}
