package bluez

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/godbus/dbus/v5"
)

// Connect connects to the device with that MAC address and returns once BlueZ reports both Connected and
// ServicesResolved, or ctx ends: then it calls Device1.Disconnect (so BlueZ stops trying) and returns ctx's
// error. When BlueZ has no object for the MAC yet it runs an active discovery until the device appears or ctx
// ends. Errors from BlueZ come back as *Error.
func (a *Adapter) Connect(ctx context.Context, mac string) (*Device, error) {
	addr, err := ParseMAC(mac)
	if err != nil {
		return nil, err
	}
	d := &Device{
		c:       a.c,
		path:    a.path + dbus.ObjectPath("/dev_"+strings.ReplaceAll(addr, ":", "_")),
		address: addr,
		gone:    make(chan struct{}),
		changed: make(chan struct{}, 1),
		subs:    map[uint64]func(){},
	}
	// The route goes in before any call, so no signal about the device is missed.
	unroute := a.c.route(d.path, false, d.signal)
	unrouteOwner := a.c.route(busPath, false, d.ownerChanged)
	d.unroute = func() { unroute(); unrouteOwner() }
	dev, err := d.connect(ctx, a)
	if err != nil {
		d.release()
		return nil, fmt.Errorf("bluez: connect %s: %w", addr, err)
	}
	return dev, nil
}

func (d *Device) connect(ctx context.Context, a *Adapter) (*Device, error) {
	var props map[string]dbus.Variant
	err := d.c.call(ctx, d.path, ifaceProps+".GetAll", []any{&props}, ifaceDevice)
	if IsErrorName(err, "org.freedesktop.DBus.Error.UnknownObject") || IsErrorName(err, "org.freedesktop.DBus.Error.UnknownMethod") {
		props, err = d.discover(ctx, a)
	}
	if err != nil {
		return nil, err
	}
	d.name = deviceName(props)
	if b, _ := props["Connected"].Value().(bool); !b {
		err := d.c.call(ctx, d.path, ifaceDevice+".Connect", nil)
		if err != nil && !IsErrorName(err, "org.bluez.Error.AlreadyConnected") {
			if ctx.Err() != nil {
				d.abandon(ctx)
			}
			return nil, err
		}
	}
	if err := d.waitReady(ctx); err != nil {
		d.abandon(ctx)
		return nil, err
	}
	if err := d.resolve(ctx); err != nil {
		d.abandon(ctx)
		return nil, err
	}
	return d, nil
}

// discover runs the active discovery until BlueZ adds the device's object, and returns its properties.
func (d *Device) discover(ctx context.Context, a *Adapter) (map[string]dbus.Variant, error) {
	if err := d.c.startDiscovery(ctx, a.path); err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		d.c.stopDiscovery(cctx, a.path)
	}()
	for {
		// Between the failed GetAll and StartDiscovery the object may have appeared: ask again each time.
		var props map[string]dbus.Variant
		err := d.c.call(ctx, d.path, ifaceProps+".GetAll", []any{&props}, ifaceDevice)
		if err == nil {
			return props, nil
		}
		if !IsErrorName(err, "org.freedesktop.DBus.Error.UnknownObject") && !IsErrorName(err, "org.freedesktop.DBus.Error.UnknownMethod") {
			return nil, err
		}
		select {
		case <-d.changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("not found by discovery: %w", ctx.Err())
		case <-d.c.done:
			return nil, ErrClosed
		}
	}
}

// waitReady waits until Connected and ServicesResolved are both true. Signals keep the state; a GetAll after each
// wake-up covers changes made before the route saw them.
func (d *Device) waitReady(ctx context.Context) error {
	for {
		var props map[string]dbus.Variant
		if err := d.c.call(ctx, d.path, ifaceProps+".GetAll", []any{&props}, ifaceDevice); err != nil {
			return err
		}
		connected, _ := props["Connected"].Value().(bool)
		resolved, _ := props["ServicesResolved"].Value().(bool)
		if connected && resolved {
			return nil
		}
		select {
		case <-d.changed:
		case <-d.gone:
			return fmt.Errorf("device went away while connecting")
		case <-ctx.Done():
			return ctx.Err()
		case <-d.c.done:
			return ErrClosed
		}
	}
}

// abandon cancels a connection attempt the caller gave up on: Device1.Disconnect also cancels a pending Connect.
func (d *Device) abandon(ctx context.Context) {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	d.c.call(cctx, d.path, ifaceDevice+".Disconnect", nil)
}

// resolve reads the device's GATT services and characteristics from BlueZ's object tree.
func (d *Device) resolve(ctx context.Context) error {
	objs, err := d.c.managed(ctx)
	if err != nil {
		return err
	}
	prefix := string(d.path) + "/"
	var paths []string
	for p := range objs {
		if strings.HasPrefix(string(p), prefix) {
			paths = append(paths, string(p))
		}
	}
	sort.Strings(paths)
	services := map[dbus.ObjectPath]int{}
	d.chars = map[string]dbus.ObjectPath{}
	for _, p := range paths {
		path := dbus.ObjectPath(p)
		if sp, ok := objs[path][ifaceService]; ok {
			uuid, _ := sp["UUID"].Value().(string)
			primary, _ := sp["Primary"].Value().(bool)
			services[path] = len(d.services)
			d.services = append(d.services, Service{UUID: normalized(uuid), Primary: primary})
		}
	}
	for _, p := range paths {
		path := dbus.ObjectPath(p)
		cp, ok := objs[path][ifaceChar]
		if !ok {
			continue
		}
		uuid, _ := cp["UUID"].Value().(string)
		uuid = normalized(uuid)
		flags, _ := cp["Flags"].Value().([]string)
		svc, _ := cp["Service"].Value().(dbus.ObjectPath)
		if i, ok := services[svc]; ok {
			d.services[i].Characteristics = append(d.services[i].Characteristics, Characteristic{UUID: uuid, Flags: append([]string(nil), flags...)})
		}
		if _, dup := d.chars[uuid]; !dup {
			d.chars[uuid] = path
		}
	}
	return nil
}

// normalized is ParseUUID's form when s parses, else s in lower case.
func normalized(s string) string {
	if u, err := ParseUUID(s); err == nil {
		return u
	}
	return strings.ToLower(s)
}

func deviceName(props map[string]dbus.Variant) string {
	if s, ok := props["Alias"].Value().(string); ok && s != "" {
		return s
	}
	s, _ := props["Name"].Value().(string)
	return s
}
