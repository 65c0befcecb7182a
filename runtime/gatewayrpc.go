package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tbgateway/tbgateway"
)

// Version is the gateway's version, set at build time with -ldflags "-X .../runtime.Version=...".
var Version = "dev"

// rpcReply builds the reply shape the Python gateway uses for its own RPCs: {"code":200,"resp":...}.
func rpcReply(resp any) json.RawMessage {
	b, err := json.Marshal(map[string]any{"code": 200, "resp": resp})
	if err != nil {
		return rpcError(500, fmt.Sprintf("encoding reply: %v", err))
	}
	return b
}

// rpcError builds an error reply {"error":msg,"code":code}.
func rpcError(code int, msg string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"error": msg, "code": code})
	return b
}

// gatewayRPC serves RPC calls addressed to the gateway device itself.
func (g *Gateway) gatewayRPC(ctx context.Context, req tbgateway.RPCRequest) json.RawMessage {
	prefix, method, ok := strings.Cut(req.Method, "_")
	if !ok {
		return rpcError(404, fmt.Sprintf("method %q not found: gateway RPC methods are gateway_<method> or <connectorType>_<method>", req.Method))
	}
	if prefix == "gateway" {
		return g.ownRPC(ctx, method, req)
	}
	conns := g.connectorsOfType(prefix)
	if len(conns) == 0 {
		return rpcError(404, fmt.Sprintf("method %q not found: no running connector of type %q", req.Method, prefix))
	}
	results := make(map[string]json.RawMessage, len(conns))
	for _, c := range conns {
		h, ok := c.impl.(tbgateway.RPCHandler)
		if !ok {
			results[c.name] = rpcError(404, fmt.Sprintf("connector %q does not serve RPC", c.name))
			continue
		}
		sub := req
		sub.Method = method
		results[c.name] = callHandler(ctx, h, sub)
	}
	if len(results) == 1 {
		for _, r := range results {
			return r
		}
	}
	b, _ := json.Marshal(results)
	return b
}

// callHandler runs an RPC handler and turns an error into an error reply.
func callHandler(ctx context.Context, h tbgateway.RPCHandler, req tbgateway.RPCRequest) json.RawMessage {
	out, err := h.HandleRPC(ctx, req)
	if err != nil {
		return rpcError(500, err.Error())
	}
	if len(out) == 0 {
		return json.RawMessage(`{"success":true}`)
	}
	return out
}

func (g *Gateway) ownRPC(ctx context.Context, method string, req tbgateway.RPCRequest) json.RawMessage {
	switch method {
	case "ping":
		return rpcReply("pong")
	case "version":
		return rpcReply(map[string]string{"current_version": Version})
	case "devices":
		out := map[string]string{}
		for _, d := range g.devices.List() {
			out[d.Name] = d.ConnectorName
		}
		return rpcReply(out)
	case "stats":
		return rpcReply(g.Stats())
	case "restart":
		delay, err := restartDelay(req.Params)
		if err != nil {
			return rpcError(400, err.Error())
		}
		g.requestRestart(delay)
		return rpcReply(fmt.Sprintf("restarting in %s", delay))
	case "device_renamed":
		var m map[string]string
		if err := json.Unmarshal(req.Params, &m); err != nil || len(m) == 0 {
			return rpcError(400, fmt.Sprintf("gateway_device_renamed: params must be {\"old name\":\"new name\"}, got %s", req.Params))
		}
		for oldName, newName := range m {
			g.renameDevice(oldName, newName)
		}
		return rpcReply("renamed")
	case "device_deleted":
		var name string
		if err := json.Unmarshal(req.Params, &name); err != nil || name == "" {
			return rpcError(400, fmt.Sprintf("gateway_device_deleted: params must be the device name, got %s", req.Params))
		}
		g.deleteDevice(name)
		return rpcReply("deleted")
	}
	return rpcError(404, fmt.Sprintf("method %q not found", "gateway_"+method))
}

// restartDelay reads gateway_restart's params: a delay in seconds (number or numeric string), at least 1 s.
func restartDelay(params json.RawMessage) (time.Duration, error) {
	if len(params) == 0 || string(params) == "null" || string(params) == "{}" {
		return time.Second, nil
	}
	var v any
	if err := json.Unmarshal(params, &v); err != nil {
		return 0, fmt.Errorf("gateway_restart: params must be a delay in seconds, got %s", params)
	}
	var secs float64
	switch x := v.(type) {
	case float64:
		secs = x
	case string:
		if _, err := fmt.Sscan(x, &secs); err != nil {
			return 0, fmt.Errorf("gateway_restart: params must be a delay in seconds, got %q", x)
		}
	default:
		return 0, fmt.Errorf("gateway_restart: params must be a delay in seconds, got %s", params)
	}
	if secs < 1 {
		secs = 1
	}
	return time.Duration(secs * float64(time.Second)), nil
}
