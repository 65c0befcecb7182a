package uplink

import (
	"context"
	"strings"
	"testing"

	"github.com/tbgateway/tbgateway"
)

// An RPC reply does not queue behind the backlog: with every PUBACK withheld, the delivery window full and
// records still waiting in storage, a call to the gateway device is answered.
func TestIntegrationRPCReplyNotBehindFullWindow(t *testing.T) {
	const window = 4
	emu := startEmu(t)
	h := startLink(t, emu, func(c *Config, _ *Client) {
		if c != nil {
			c.MaxInflight, c.MaxPayloadSize = window, minPacketSize
		}
	})
	emu.WithholdPubAcks(true)
	big := strings.Repeat("x", 300)
	var recs []tbgateway.Record
	for i := range 200 {
		recs = append(recs, tbgateway.Record{Device: "backlog", Telemetry: []tbgateway.Telemetry{{TS: int64(i + 1),
			Values: map[string]any{"a": big}}}})
	}
	h.put(recs...)
	h.waitFor("a full window", func() bool { return telemetryMessages(emu, "") >= window })
	reply, err := emu.RPC(context.Background(), "gw", "status", nil, false, waitBound)
	if err != nil {
		t.Fatalf("rpc to the gateway with a full window: %v", err)
	}
	if !strings.Contains(string(reply), `"method":"status"`) {
		t.Fatalf("reply %s", reply)
	}
	if n := h.store.Stats().Count; n == 0 {
		t.Fatal("the backlog was delivered: the test did not hold it")
	}
}
