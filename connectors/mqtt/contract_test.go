package mqtt_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/connectors/mqtt"
	"github.com/tbgateway/tbgateway/internal/connectortest"
)

// TestContract runs the connector kit's contract suite against a real mosquitto, for MQTT 3.1.1 and 5. The
// device side is a client publishing QoS 1 messages; the connector's acknowledgements are read from the
// broker's own debug log ("Received PUBACK from <clientId>"), so "acknowledged only after Send returned nil" is
// checked where the acknowledgement matters: at the broker.
func TestContract(t *testing.T) {
	for _, version := range []int{4, 5} {
		t.Run(fmt.Sprintf("version%d", version), func(t *testing.T) { testContract(t, version) })
	}
}

func testContract(t *testing.T, version int) {
	var (
		mu      sync.Mutex
		current string // clientId of the connector the check runs
		pubacks = map[string]int{}
	)
	b := startBroker(t, nil, func(line string) {
		_, after, ok := strings.Cut(line, "Received PUBACK from ")
		if !ok {
			return
		}
		id, _, _ := strings.Cut(after, " ")
		mu.Lock()
		pubacks[id]++
		mu.Unlock()
	})
	dev := newDevice(t, b, fmt.Sprintf("contract-device-v%d", version))
	var (
		built   atomic.Int64
		running atomic.Pointer[mqtt.Connector]
		seq     atomic.Int64
	)
	connectortest.Contract(t, connectortest.Subject{
		New: func(t *testing.T) tbgateway.Connector {
			id := fmt.Sprintf("contract-gw-v%d-%d", version, built.Add(1))
			cfg, _, err := mqtt.Decode(fmt.Appendf(nil, `{
				"broker": {"host": "127.0.0.1", "port": %d, "version": %d, "clientId": %q, "reconnectMaxDelaySeconds": 1},
				"mapping": [{"topicFilter": "contract/+", "subscriptionQos": 1, "converter": {"type": "json",
					"deviceInfo": {"deviceNameExpressionSource": "constant", "deviceNameExpression": "contract-device"},
					"timeseries": [{"key": "seq", "type": "int", "value": "${seq}"}]}}],
				"requestsMapping": {
					"attributeUpdates": [{"deviceNameFilter": ".*", "attributeFilter": ".*",
						"topicExpression": "contract/${deviceName}/attrs", "valueExpression": "${attributeValue}"}],
					"serverSideRpc": [{"deviceNameFilter": ".*", "methodFilter": ".*",
						"requestTopicExpression": "contract/${deviceName}/rpc", "valueExpression": "${params}"}]}}`,
				b.port, version, id))
			if err != nil {
				t.Fatal(err)
			}
			c, err := mqtt.New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			current = id
			mu.Unlock()
			running.Store(c)
			return c
		},
		// The connector counts a connection once its subscriptions are in place.
		Ready: func(ctx context.Context, t *testing.T, _ *connectortest.Sink) {
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for running.Load().Stats().Connects == 0 {
				select {
				case <-tick.C:
				case <-ctx.Done():
					t.Fatalf("the connector never subscribed: %v", ctx.Err())
				}
			}
		},
		Produce: func(ctx context.Context, t *testing.T) {
			dev.publish("contract/1", map[string]any{"seq": seq.Add(1)})
		},
		Acked: func() int {
			mu.Lock()
			defer mu.Unlock()
			return pubacks[current]
		},
		Device:      "contract-device",
		LeakOptions: []goleak.Option{goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock")},
	})
}
