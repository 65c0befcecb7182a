package bluez

import (
	"context"
	"fmt"
	"sync"

	"github.com/godbus/dbus/v5"
)

// scanQueue bounds the advertisements waiting for the scan function; when it is full further ones are dropped
// (advertisements repeat, and the dispatcher must never wait for a slow scan function).
const scanQueue = 256

// Scan runs discovery until ctx ends and calls fn for every advertisement seen: a device added, or its RSSI,
// ManufacturerData, ServiceData, Name, Alias or UUIDs changed. fn runs on the goroutine that called Scan, one
// call at a time; while it runs further advertisements queue (up to 256, then the newest are dropped).
//
// Active: SetDiscoveryFilter{Transport: "le", DuplicateData: true} and StartDiscovery, StopDiscovery at the end
// (shared with Connect's discovery of unknown devices on the same Conn); devices already known to BlueZ and seen
// recently (with an RSSI) are reported first. Passive: registers an AdvertisementMonitor1 of type "or_patterns"
// with the adapter's AdvertisementMonitorManager1, waits for BlueZ to activate it, and reports the devices BlueZ
// hands to its DeviceFound and their later changes; ErrPassiveUnsupported when the adapter has no monitor manager
// or no pattern is given. Scan returns nil when ctx ends after a successful start, or the error that stopped it.
func (a *Adapter) Scan(ctx context.Context, opts ScanOptions, fn func(Advertisement)) error {
	if opts.Passive && (!a.monitor || len(opts.Patterns) == 0) {
		return ErrPassiveUnsupported
	}
	s := &scan{a: a, passive: opts.Passive, events: make(chan Advertisement, scanQueue),
		cache: map[dbus.ObjectPath]*devState{}, found: map[dbus.ObjectPath]bool{}, done: make(chan struct{})}
	defer close(s.done)
	remove := a.c.route(a.path, true, s.signal)
	defer remove()
	if opts.Passive {
		stop, err := s.startMonitor(ctx, opts.Patterns)
		if err != nil {
			return err
		}
		defer stop()
	} else {
		if err := a.c.startDiscovery(ctx, a.path); err != nil {
			return err
		}
		defer func() {
			cctx, cancel := cleanupContext(ctx)
			defer cancel()
			a.c.stopDiscovery(cctx, a.path)
		}()
		if err := s.seed(ctx, fn); err != nil {
			return err
		}
	}
	for {
		select {
		case ad := <-s.events:
			fn(ad)
		case path := <-s.foundCh:
			if ad, ok := s.deviceFound(ctx, path); ok {
				fn(ad)
			}
		case <-ctx.Done():
			return nil
		case <-a.c.done:
			return ErrClosed
		}
	}
}

// scan is one running Scan: the devices it has seen and, when passive, the ones BlueZ's monitor reported.
type scan struct {
	a       *Adapter
	passive bool
	events  chan Advertisement
	foundCh chan dbus.ObjectPath // passive: DeviceFound from BlueZ, to be completed by the Scan goroutine
	done    chan struct{}        // closed when Scan returns

	mu    sync.Mutex
	cache map[dbus.ObjectPath]*devState
	found map[dbus.ObjectPath]bool
}

// signal handles, on the dispatcher, signals about the adapter's direct children (its devices).
func (s *scan) signal(sig *dbus.Signal) {
	var ad Advertisement
	report := false
	s.mu.Lock()
	switch {
	case sig.Name == ifaceObjManager+".InterfacesAdded":
		ifs, ok := interfacesAdded(sig)
		props, isDev := ifs[ifaceDevice]
		if !ok || !isDev {
			break
		}
		st := s.state(sig.Path)
		st.merge(props, nil)
		report = !s.passive || s.found[sig.Path]
		ad = advertisement(st.props)
	case sig.Name == ifaceObjManager+".InterfacesRemoved":
		if ifs, ok := interfacesRemoved(sig); ok && contains(ifs, ifaceDevice) {
			delete(s.cache, sig.Path)
			delete(s.found, sig.Path)
		}
	default:
		iface, changed, invalidated, ok := propertiesChanged(sig)
		if !ok || iface != ifaceDevice {
			break
		}
		st := s.state(sig.Path)
		st.merge(changed, invalidated)
		report = advertised(changed) && (!s.passive || s.found[sig.Path])
		if report {
			ad = advertisement(st.props)
		}
	}
	s.mu.Unlock()
	if report && ad.Address != "" {
		select {
		case s.events <- ad:
		default:
		}
	}
}

func (s *scan) state(path dbus.ObjectPath) *devState {
	st := s.cache[path]
	if st == nil {
		// The address is known from the path even when the first thing seen is a change of other properties.
		st = &devState{props: map[string]dbus.Variant{}}
		if mac, ok := pathMAC(path); ok {
			st.props["Address"] = dbus.MakeVariant(mac)
		}
		s.cache[path] = st
	}
	return st
}

// seed reports the devices BlueZ already knows under the adapter and has seen recently (RSSI present); signals
// that arrived meanwhile are newer and win.
func (s *scan) seed(ctx context.Context, fn func(Advertisement)) error {
	objs, err := s.a.c.managed(ctx)
	if err != nil {
		return err
	}
	var ads []Advertisement
	s.mu.Lock()
	for path, ifs := range objs {
		props, ok := ifs[ifaceDevice]
		if !ok || parent(path) != s.a.path {
			continue
		}
		if _, seen := s.cache[path]; seen {
			continue
		}
		st := s.state(path)
		st.merge(props, nil)
		if _, ok := props["RSSI"]; ok {
			ads = append(ads, advertisement(st.props))
		}
	}
	s.mu.Unlock()
	for _, ad := range ads {
		fn(ad)
	}
	return nil
}

// deviceFound completes a device BlueZ's monitor reported: reads its properties and marks it as reported.
func (s *scan) deviceFound(ctx context.Context, path dbus.ObjectPath) (Advertisement, bool) {
	if parent(path) != s.a.path {
		return Advertisement{}, false
	}
	var props map[string]dbus.Variant
	if err := s.a.c.call(ctx, path, ifaceProps+".GetAll", []any{&props}, ifaceDevice); err != nil {
		return Advertisement{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state(path)
	for k, v := range props {
		if _, known := st.props[k]; !known {
			st.merge(map[string]dbus.Variant{k: v}, nil)
		}
	}
	s.found[path] = true
	return advertisement(st.props), true
}

// deviceLost forgets a device BlueZ's monitor no longer sees.
func (s *scan) deviceLost(path dbus.ObjectPath) {
	s.mu.Lock()
	delete(s.found, path)
	s.mu.Unlock()
}

// startMonitor exports an advertisement monitor (an ObjectManager root with one AdvertisementMonitor1 of type
// "or_patterns" under it), registers it with the adapter and waits until BlueZ activates it. stop unregisters
// and unexports it.
func (s *scan) startMonitor(ctx context.Context, patterns []Pattern) (stop func(), err error) {
	c := s.a.c
	c.mu.Lock()
	c.nextScan++
	root := dbus.ObjectPath(fmt.Sprintf("/org/tbgateway/bluez/monitor%d", c.nextScan))
	c.mu.Unlock()
	s.foundCh = make(chan dbus.ObjectPath, scanQueue)
	m := &monitor{
		s:         s,
		path:      root + "/0",
		patterns:  patterns,
		activated: make(chan struct{}),
		released:  make(chan struct{}),
		done:      s.done,
	}
	if err := m.export(c.bus, root); err != nil {
		return nil, fmt.Errorf("bluez: export advertisement monitor: %w", err)
	}
	unexport := func() { m.unexport(c.bus, root) }
	if err := c.call(ctx, s.a.path, ifaceMonitorMgr+".RegisterMonitor", nil, root); err != nil {
		unexport()
		return nil, fmt.Errorf("bluez: register advertisement monitor: %w", err)
	}
	stop = func() {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		c.call(cctx, s.a.path, ifaceMonitorMgr+".UnregisterMonitor", nil, root)
		unexport()
	}
	select {
	case <-m.activated:
		return stop, nil
	case <-m.released:
		stop()
		return nil, fmt.Errorf("bluez: advertisement monitor released by BlueZ without being activated: %w", ErrPassiveUnsupported)
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	case <-c.done:
		stop()
		return nil, ErrClosed
	}
}
