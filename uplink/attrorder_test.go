package uplink

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
)

// orderDownlink holds the first shared-attribute update until released and records the order in which the
// updates finish.
type orderDownlink struct {
	*testDownlink
	first    chan struct{} // closed when the first update has started
	release  chan struct{}
	finished chan any // the "v" value of each update, as it finishes
	calls    chan struct{}
}

func (d *orderDownlink) OnAttributeUpdate(_ context.Context, device string, values map[string]any, _ []string) {
	select {
	case d.calls <- struct{}{}:
		close(d.first)
		<-d.release
	default:
	}
	d.finished <- values["v"]
}

// TestDeviceAttributeUpdatesInOrder: two shared-attribute updates of a device are applied in the order
// ThingsBoard sent them, the second only after the first returned, while RPCs are still served (the last value
// set at ThingsBoard is the one the device ends up with). The second update is sent while the first is held,
// then an RPC; once the RPC is answered, the first is released.
func TestDeviceAttributeUpdatesInOrder(t *testing.T) {
	emu := startEmu(t)
	down := &orderDownlink{first: make(chan struct{}), release: make(chan struct{}), finished: make(chan any, 10), calls: make(chan struct{}, 1)}
	h := startLink(t, emu, func(_ *Config, c *Client) {
		if c != nil {
			down.testDownlink = c.down.(*testDownlink)
			c.down = down
		}
	})
	h.put(tbgateway.Record{Device: "valve", Telemetry: []tbgateway.Telemetry{{TS: 1, Values: map[string]any{"on": false}}}})
	h.waitFor("device", func() bool { return len(emu.Telemetry("valve", "on")) == 1 })
	if err := emu.SetSharedAttributes("valve", map[string]any{"v": int64(1)}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-down.first:
	case <-time.After(waitBound):
		t.Fatal("the first update never arrived")
	}
	if err := emu.SetSharedAttributes("valve", map[string]any{"v": int64(2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.RPC(t.Context(), "valve", "ping", json.RawMessage(`{}`), false, waitBound); err != nil {
		t.Fatalf("an RPC while an attribute update is held: %v", err)
	}
	close(down.release)
	var order []any
	for range 2 {
		select {
		case v := <-down.finished:
			order = append(order, v)
		case <-time.After(waitBound):
			t.Fatalf("updates finished: %v, want 2", order)
		}
	}
	if order[0] != int64(1) || order[1] != int64(2) {
		t.Errorf("updates finished in the order %v, want [1 2]", order)
	}
}
