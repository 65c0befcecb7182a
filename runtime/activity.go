package runtime

import (
	"context"
	"sync"
	"time"

	"github.com/tbgateway/tbgateway"
)

// activityState is when each device last sent data, for thingsboard.checkingDeviceActivity.
type activityState struct {
	mu   sync.Mutex
	last map[string]time.Time // connector-side device name -> last data record
}

// touchDevice records that the device (connector-side name) sent data at now, when activity checks are on.
func (g *Gateway) touchDevice(name string, now time.Time) {
	if !g.config().Thingsboard.CheckingDeviceActivity.CheckDeviceInactivity {
		return
	}
	a := &g.activity
	a.mu.Lock()
	if a.last == nil {
		a.last = map[string]time.Time{}
	}
	a.last[name] = now
	a.mu.Unlock()
}

// runActivityChecks disconnects at ThingsBoard, every inactivityCheckPeriodSeconds, the devices that sent no
// data for inactivityTimeoutSeconds, until ctx ends. A device's next data connects it again (the sink announces
// a device marked disconnected).
func (g *Gateway) runActivityChecks(ctx context.Context) error {
	ca := g.config().Thingsboard.CheckingDeviceActivity
	period := time.Duration(ca.InactivityCheckPeriodSeconds) * time.Second
	timeout := time.Duration(ca.InactivityTimeoutSeconds) * time.Second
	g.log.Info("device activity checks on", "inactivityTimeoutSeconds", ca.InactivityTimeoutSeconds, "inactivityCheckPeriodSeconds", ca.InactivityCheckPeriodSeconds)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			g.disconnectInactive(ctx, timeout)
		}
	}
}

// disconnectInactive sends a disconnect for every connected device silent for timeout or longer. A device the
// gateway knows but has not heard from since the start (or since its last disconnect) counts as active at the
// first check that sees it, as in the Python gateway.
func (g *Gateway) disconnectInactive(ctx context.Context, timeout time.Duration) {
	now := g.now()
	devs := g.devices.List()
	type silentDevice struct {
		Device
		silent time.Duration
	}
	var idle []silentDevice
	a := &g.activity
	a.mu.Lock()
	known := make(map[string]bool, len(devs))
	for _, d := range devs {
		known[d.Name] = true
		if d.Disconnected {
			delete(a.last, d.Name)
			continue
		}
		last, ok := a.last[d.Name]
		if !ok {
			if a.last == nil {
				a.last = map[string]time.Time{}
			}
			a.last[d.Name] = now
			continue
		}
		if now.Sub(last) >= timeout {
			idle = append(idle, silentDevice{d, now.Sub(last)})
		}
	}
	for name := range a.last {
		if !known[name] {
			delete(a.last, name) // deleted from the table
		}
	}
	a.mu.Unlock()
	for _, d := range idle {
		tx := g.devices.Begin()
		if !tx.SetDisconnected(d.Name, true) {
			tx.Abort()
			continue
		}
		rec := tbgateway.Record{Kind: tbgateway.KindDisconnect, Device: d.TBName(), DeviceType: d.Type, Connector: d.ConnectorName, ReceivedTS: now.UnixMilli()}
		if err := g.put(ctx, []tbgateway.Record{rec}); err != nil {
			tx.Abort()
			if ctx.Err() == nil {
				g.log.Warn("queueing the disconnect of an inactive device failed; tried again at the next check", "device", d.Name, "err", err)
			}
			continue
		}
		if err := tx.Commit(); err != nil {
			g.log.Warn("saving the device table failed", "err", err)
		}
		a.mu.Lock()
		delete(a.last, d.Name)
		a.mu.Unlock()
		g.log.Info("device disconnected for inactivity; its next data connects it again", "device", d.Name, "connector", d.ConnectorName, "silentFor", d.silent.String())
	}
}
