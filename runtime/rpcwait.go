package runtime

import (
	"context"
	"encoding/json"
	"math"
	"time"
)

// RPC to a device the gateway does not know yet (a connector has not registered it): the Python gateway keeps
// such a call queued for up to its "timeout" parameter (seconds, default 5) and then answers 408.
const (
	// DefaultRPCDeviceWait is how long an RPC waits for its device when its params carry no "timeout".
	DefaultRPCDeviceWait = 5 * time.Second
	// MaxRPCDeviceWait bounds the wait whatever the params say: a waiting call holds one of the link's downlink
	// workers, and ThingsBoard gives up on a call long before (its REST RPC timeout defaults to 10 s).
	MaxRPCDeviceWait = 60 * time.Second
)

// rpcRequestTimeout is the Python gateway's answer to an RPC whose device did not appear in time.
func rpcRequestTimeout() json.RawMessage { return rpcError(408, "Request timeout") }

// rpcDeviceWait reads the wait from an RPC's params: a positive number "timeout" in seconds, as the Python
// gateway reads it, at most MaxRPCDeviceWait; anything else gives DefaultRPCDeviceWait.
func rpcDeviceWait(params json.RawMessage) time.Duration {
	var p struct {
		Timeout *float64 `json:"timeout"`
	}
	if json.Unmarshal(params, &p) != nil || p.Timeout == nil || !(*p.Timeout > 0) || math.IsInf(*p.Timeout, 0) {
		return DefaultRPCDeviceWait
	}
	if *p.Timeout >= MaxRPCDeviceWait.Seconds() {
		return MaxRPCDeviceWait
	}
	return time.Duration(*p.Timeout * float64(time.Second))
}

// waitForDevice waits up to wait for a device named tbName (as ThingsBoard names it) to be registered or staged
// by a connector, and returns it; false when it did not appear in time or ctx ended.
func (g *Gateway) waitForDevice(ctx context.Context, tbName string, wait time.Duration) (Device, bool) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		changed := g.devices.Changes()
		if d, ok := g.devices.Lookup(tbName); ok {
			return d, true
		}
		select {
		case <-changed:
		case <-timer.C:
			return Device{}, false
		case <-ctx.Done():
			return Device{}, false
		}
	}
}
