package bluez

import (
	"context"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// cleanupTimeout bounds the calls that undo something after the caller's context ended (StopDiscovery,
// Disconnect of an abandoned connect, UnregisterMonitor).
const cleanupTimeout = 10 * time.Second

// cleanupContext is a context for undoing work after ctx ended: it keeps ctx's values, not its cancellation.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

func (c *Conn) lockDiscovery(ctx context.Context) error {
	select {
	case c.discLock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrClosed
	}
}

func (c *Conn) unlockDiscovery() { <-c.discLock }

// startDiscovery makes sure this connection's LE discovery session on the adapter runs (SetDiscoveryFilter
// Transport "le", DuplicateData true, then StartDiscovery) and counts one more user of it.
func (c *Conn) startDiscovery(ctx context.Context, adapter dbus.ObjectPath) error {
	if err := c.lockDiscovery(ctx); err != nil {
		return err
	}
	defer c.unlockDiscovery()
	if c.discUsers[adapter] == 0 {
		filter := map[string]dbus.Variant{
			"Transport":     dbus.MakeVariant("le"),
			"DuplicateData": dbus.MakeVariant(true),
		}
		if err := c.call(ctx, adapter, ifaceAdapter+".SetDiscoveryFilter", nil, filter); err != nil {
			return fmt.Errorf("bluez: discovery filter: %w", err)
		}
		if err := c.call(ctx, adapter, ifaceAdapter+".StartDiscovery", nil); err != nil {
			return fmt.Errorf("bluez: start discovery: %w", err)
		}
	}
	c.discUsers[adapter]++
	return nil
}

// stopDiscovery counts one user less and stops the session when none is left.
func (c *Conn) stopDiscovery(ctx context.Context, adapter dbus.ObjectPath) error {
	if err := c.lockDiscovery(ctx); err != nil {
		return err
	}
	defer c.unlockDiscovery()
	c.discUsers[adapter]--
	if c.discUsers[adapter] > 0 {
		return nil
	}
	delete(c.discUsers, adapter)
	if err := c.call(ctx, adapter, ifaceAdapter+".StopDiscovery", nil); err != nil {
		return fmt.Errorf("bluez: stop discovery: %w", err)
	}
	return nil
}
