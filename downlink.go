package tbgateway

import (
	"context"
	"encoding/json"
)

// Downlink receives what ThingsBoard sends to the gateway. The runtime implements it and the uplink calls it.
// Calls may be concurrent; the uplink runs them on a bounded pool so that a slow device never stalls the link.
type Downlink interface {
	// OnConnect is called after every (re)connect to ThingsBoard, once subscriptions are in place and before
	// stored records are sent, so the runtime can announce its devices and re-request shared attributes
	// (ThingsBoard does not replay changes made while the gateway was offline).
	OnConnect(ctx context.Context)
	// OnAttributeUpdate delivers a shared-attribute change. device is empty for the gateway's own device.
	// deleted lists shared attributes that were removed.
	OnAttributeUpdate(ctx context.Context, device string, values map[string]any, deleted []string)
	// OnRPC serves a server-side RPC: to a device behind the gateway (req.Device set) or to the gateway itself
	// (req.Device empty). The returned JSON is the reply sent to ThingsBoard; it must not be nil.
	OnRPC(ctx context.Context, req RPCRequest) json.RawMessage
}
