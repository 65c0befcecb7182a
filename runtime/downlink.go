package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tbgateway/tbgateway"
)

// sharedSyncTimeout bounds one shared-attribute request made after a reconnect.
const sharedSyncTimeout = 20 * time.Second

// OnConnect publishes the gateway device's own attributes (Version, ..., and the configuration attributes of
// remote configuration, which then requests the gateway's shared attributes), re-announces every known device to
// ThingsBoard and, in the background, requests the shared attributes their connectors listen to (changes made
// while the gateway was offline are not replayed by the server). It implements tbgateway.Downlink.
func (g *Gateway) OnConnect(ctx context.Context) {
	g.publishOwnAttributes(ctx)
	g.remoteOnConnect(ctx)
	devs := g.devices.List()
	announced := 0
	for _, d := range devs {
		if d.Disconnected {
			continue
		}
		if err := g.link.ConnectDevice(ctx, d.TBName(), d.Type); err != nil {
			g.log.Warn("re-announcing devices after connect stopped", "device", d.TBName(), "err", err)
			return
		}
		announced++
	}
	if announced > 0 {
		g.log.Info("devices re-announced to ThingsBoard", "devices", announced)
	}
	if !g.config().Thingsboard.SyncDevicesSharedAttributesOnConnect {
		return
	}
	syncCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.mu.Lock()
	if g.syncCancel != nil {
		g.syncCancel()
	}
	g.syncCancel = cancel
	g.mu.Unlock()
	g.syncs.Go(func() { g.syncSharedAttributes(syncCtx, devs) })
}

// syncSharedAttributes requests, one device at a time, the shared attributes each connector declared and
// delivers the values found as an attribute update.
func (g *Gateway) syncSharedAttributes(ctx context.Context, devs []Device) {
	for _, d := range devs {
		c := g.connectorByName(d.ConnectorName)
		if c == nil {
			continue
		}
		lister, ok := c.impl.(tbgateway.SharedKeysLister)
		upd, ok2 := c.impl.(tbgateway.AttributeUpdater)
		if !ok || !ok2 {
			continue
		}
		keys := lister.SharedAttributeKeys(d.Name)
		if len(keys) == 0 {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, sharedSyncTimeout)
		values, err := g.link.RequestAttributes(rctx, d.TBName(), false, keys)
		if err == nil && len(values) > 0 {
			err = upd.UpdateAttributes(rctx, d.Name, values)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.log.Warn("shared attribute sync failed", "device", d.Name, "err", err)
		}
	}
}

// OnAttributeUpdate routes a shared-attribute update to the connector that owns the device; those of the gateway
// device itself go to remote configuration (remoteUpdate). It implements tbgateway.Downlink.
func (g *Gateway) OnAttributeUpdate(ctx context.Context, device string, values map[string]any, deleted []string) {
	if device == "" {
		if len(deleted) > 0 {
			g.log.Info("remote configuration: deleted shared attributes of the gateway device ignored", "keys", deleted)
		}
		g.remoteUpdate(ctx, values)
		return
	}
	d, ok := g.devices.Lookup(device)
	if !ok {
		g.log.Warn("attribute update for an unknown device dropped", "device", device)
		return
	}
	c := g.connectorByName(d.ConnectorName)
	if c == nil {
		g.log.Warn("attribute update for a device whose connector is not running dropped", "device", device, "connector", d.ConnectorName)
		return
	}
	upd, ok := c.impl.(tbgateway.AttributeUpdater)
	if !ok {
		c.log.Info("attribute update ignored: the connector does not accept attribute updates", "device", device)
		return
	}
	if len(values) == 0 {
		return
	}
	if err := upd.UpdateAttributes(ctx, d.Name, values); err != nil {
		c.log.Warn("attribute update failed", "device", d.Name, "err", err)
	}
}

// OnRPC serves an RPC for the gateway itself or routes it to the connector that owns the device. It
// implements tbgateway.Downlink.
func (g *Gateway) OnRPC(ctx context.Context, req tbgateway.RPCRequest) json.RawMessage {
	if req.Device == "" {
		return g.gatewayRPC(ctx, req)
	}
	d, ok := g.devices.Lookup(req.Device)
	if !ok {
		wait := rpcDeviceWait(req.Params)
		g.log.Info("RPC to a device not known yet: waiting for it to appear", "device", req.Device, "method", req.Method, "wait", wait.String())
		if d, ok = g.waitForDevice(ctx, req.Device, wait); !ok {
			g.log.Warn("RPC to a device that did not appear in time answered with a timeout", "device", req.Device, "method", req.Method, "wait", wait.String())
			return rpcRequestTimeout()
		}
	}
	c := g.connectorByName(d.ConnectorName)
	if c == nil {
		return rpcError(503, fmt.Sprintf("device %q: connector %q is not running", req.Device, d.ConnectorName))
	}
	h, ok := c.impl.(tbgateway.RPCHandler)
	if !ok {
		return rpcError(404, fmt.Sprintf("device %q: connector %q does not serve RPC", req.Device, d.ConnectorName))
	}
	req.Device = d.Name
	return callHandler(ctx, h, req)
}

// renameDevice applies gateway_device_renamed.
func (g *Gateway) renameDevice(oldName, newName string) {
	known, err := g.devices.Rename(oldName, newName)
	switch {
	case err != nil:
		g.log.Warn("saving the device table after a rename failed", "old", oldName, "new", newName, "err", err)
	case !known:
		g.log.Info("rename of a device this gateway does not know ignored", "old", oldName, "new", newName)
	default:
		g.log.Info("device renamed by ThingsBoard", "old", oldName, "new", newName)
	}
}

// deleteDevice applies gateway_device_deleted.
func (g *Gateway) deleteDevice(name string) {
	// The stamper is keyed by the connector-side name; ThingsBoard names a renamed device by its new name.
	g.stamper.Forget(g.devices.InboundName(name))
	known, err := g.devices.Delete(name)
	switch {
	case err != nil:
		g.log.Warn("saving the device table after a delete failed", "device", name, "err", err)
	case known:
		g.log.Info("device deleted by ThingsBoard; it is registered again with its next data", "device", name)
	}
}
