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
		// This gateway does not look for new versions: the latest it knows is its own.
		return rpcReply(map[string]string{"current_version": Version, "latest_version": Version})
	case "update":
		b, _ := json.Marshal(map[string]any{"code": 501, "current_version": Version,
			"error": "gateway_update is not supported: this gateway is a single binary; replace it and restart to update (current version " + Version + ")"})
		return b
	case "reboot":
		return g.rebootRPC(req)
	case "devices":
		out := map[string]string{}
		for _, d := range g.devices.List() {
			out[d.Name] = d.ConnectorName
		}
		return rpcReply(out)
	case "stats":
		return g.statsReply()
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
	case "remove_provisioned_credentials":
		return g.removeProvisionedCredentials()
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

// statsReply is gateway_stats: the Python gateway's keys (eventsProduced and eventsSent in all and per
// connector, as "<name without spaces>EventsProduced" and "...EventsSent": records the connector handed to the
// gateway and those of them the gateway accepted, since the start), with our counters as
// {"code":200,"resp":Stats} beside them.
func (g *Gateway) statsReply() json.RawMessage {
	st := g.Stats()
	out := map[string]any{"code": 200, "resp": st}
	var produced, sent uint64
	for name, c := range st.Connectors {
		key := strings.ReplaceAll(name, " ", "")
		out[key+"EventsProduced"] = c.RecordsReceived
		out[key+"EventsSent"] = c.RecordsReceived - c.Invalid
		produced += c.RecordsReceived
		sent += c.RecordsReceived - c.Invalid
	}
	out["eventsProduced"], out["eventsSent"] = produced, sent
	b, err := json.Marshal(out)
	if err != nil {
		return rpcError(500, fmt.Sprintf("encoding reply: %v", err))
	}
	return b
}

// rebootTimeout bounds the run of gateway.rebootCommand.
const rebootTimeout = time.Minute

// rebootRPC is gateway_reboot: after the delay in params (seconds, at least 1, as gateway_restart) it runs the
// local configuration's gateway.rebootCommand without a shell, and logs how it ended. Without such a command
// it answers that rebooting is not enabled; nothing ThingsBoard sends can set the command.
func (g *Gateway) rebootRPC(req tbgateway.RPCRequest) json.RawMessage {
	argv := g.stats.reboot
	if len(argv) == 0 {
		return rpcError(501, "gateway_reboot is not enabled: set gateway.rebootCommand in the gateway's local configuration file to the command that reboots this machine")
	}
	delay, err := restartDelay(req.Params)
	if err != nil {
		return rpcError(400, strings.Replace(err.Error(), "gateway_restart", "gateway_reboot", 1))
	}
	log := g.log.With("command", argv)
	log.Warn("gateway_reboot received: running the reboot command", "in", delay)
	time.AfterFunc(delay, func() {
		ctx, cancel := context.WithTimeout(context.Background(), rebootTimeout)
		defer cancel()
		out := &cappedBuffer{max: customOutputLimit}
		if err := newCommand(ctx, argv, g.config().Dir, out, out).Run(); err != nil {
			log.Error("the reboot command failed", "err", err, "output", strings.TrimSpace(out.String()))
			return
		}
		log.Info("the reboot command finished", "output", strings.TrimSpace(out.String()))
	})
	b, _ := json.Marshal(map[string]any{"success": true, "code": 200,
		"resp": fmt.Sprintf("running %q in %s", strings.Join(argv, " "), delay)})
	return b
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
