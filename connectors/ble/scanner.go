package ble

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
)

// maxAdverts bounds the advertisers remembered (the scan RPC's answer); configured devices are always kept.
const maxAdverts = 1024

const scanFaultKey = "scanner"

// errPassiveUnsupported is what radio.scan wraps when a passive scan cannot be done.
var errPassiveUnsupported = errors.New("passive scanning unsupported")

// scanLoop scans until ctx ends: windows of ScanWindow every ScanPeriod, or one endless scan when the period is
// not longer than the window. A failing scan is counted as a fault and tried again after a back-off.
func (c *Connector) scanLoop(ctx context.Context, r radio) {
	passive := c.cfg.PassiveScanMode
	var names []string
	if c.cfg.ScanDeviceName != "" {
		names = []string{c.cfg.ScanDeviceName}
	}
	if passive && len(names) == 0 {
		c.log.Warn("passiveScanMode needs scanner.deviceName (the name the passive scan matches); scanning actively")
		passive = false
	}
	if !c.cfg.PassiveScanMode {
		c.log.Info("scanning actively (passiveScanMode is off)")
	}
	b := backoff.New(backoff.Exponential(time.Second, 2, time.Minute))
	continuous := c.cfg.ScanPeriod <= c.cfg.ScanWindow
	var tick *time.Ticker
	if !continuous {
		tick = time.NewTicker(c.cfg.ScanPeriod)
		defer tick.Stop()
	}
	for ctx.Err() == nil {
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if !continuous {
			sctx, cancel = context.WithTimeout(ctx, c.cfg.ScanWindow)
		}
		b.Begin()
		err := r.scan(sctx, passive, names, c.seenAdvert)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errPassiveUnsupported) {
			c.log.Warn("the adapter cannot scan passively; scanning actively", "err", err)
			passive = false
			continue
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			c.faults.Fail(scanFaultKey, err, "scanner", c.cfg.Adapter)
			if b.Wait(ctx) != nil {
				return
			}
			continue
		}
		c.faults.OK(scanFaultKey)
		if continuous {
			// A scan ends by itself only when the adapter stopped it: start again after a pause.
			if b.Wait(ctx) != nil {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// seenAdvert stores an advertisement; with showMap, a device seen for the first time is logged.
func (c *Connector) seenAdvert(a advert) {
	if c.seen.put(a, c.byMAC(a.mac) != nil) && c.cfg.ShowMap && c.nameMatches(a) {
		c.log.Info("device discovered", "mac", a.mac, "name", a.name, "rssi", a.rssi)
	}
}

func (c *Connector) nameMatches(a advert) bool {
	return c.cfg.ScanDeviceName == "" || a.name == c.cfg.ScanDeviceName
}

func (c *Connector) byMAC(mac string) *device {
	for _, d := range c.devices {
		if d.mac == mac {
			return d
		}
	}
	return nil
}

// advertLoop sends the device's advertisement items every pollPeriod from the newest advertisement seen since
// the previous poll (none seen: nothing sent).
func (c *Connector) advertLoop(ctx context.Context, d *device, sink tbgateway.Sink) {
	t := time.NewTicker(d.cfg.PollPeriod)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a, seq, ok := c.seen.get(d.mac)
		if !ok || seq == last {
			continue
		}
		last = seq
		var b batch
		groups := map[string][]*item{}
		var order []string
		for _, it := range d.adverts {
			if groups[it.uuid] == nil {
				order = append(order, it.uuid)
			}
			groups[it.uuid] = append(groups[it.uuid], it)
		}
		for _, uuid := range order {
			data, ok := advertisementData(a, uuid)
			src := "advertisement"
			if uuid != "" {
				src += "/" + uuid
			}
			if !ok {
				c.faults.Fail(charFaultKey(d, src), errors.New("the advertisement carries no such data"),
					"device", d.name, "source", src)
				continue
			}
			c.faults.OK(charFaultKey(d, src))
			c.converted(d, groups[uuid], d.convert(&b, groups[uuid], src, data))
		}
		c.send(ctx, sink, b.records(d, c.name))
	}
}

// advertCache keeps the newest advertisement per device, bounded; entries of configured devices are never
// evicted.
type advertCache struct {
	mu    sync.Mutex
	max   int
	seq   uint64
	byMAC map[string]*seenAdvert
}

type seenAdvert struct {
	a      advert
	seq    uint64
	at     time.Time
	pinned bool
}

func newAdvertCache(max int) *advertCache {
	return &advertCache{max: max, byMAC: map[string]*seenAdvert{}}
}

// put stores a and reports whether its device is new to the cache.
func (ac *advertCache) put(a advert, pinned bool) bool {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	ac.seq++
	s, ok := ac.byMAC[a.mac]
	if !ok {
		if len(ac.byMAC) >= ac.max {
			ac.evictLocked()
		}
		s = &seenAdvert{pinned: pinned}
		ac.byMAC[a.mac] = s
	}
	// BlueZ reports a change of one property at a time: keep what the advertisement does not repeat.
	if a.name == "" {
		a.name = s.a.name
	}
	if a.manufacturer == nil {
		a.manufacturer = s.a.manufacturer
	}
	if a.service == nil {
		a.service = s.a.service
	}
	s.a, s.seq, s.at = a, ac.seq, time.Now()
	return !ok
}

func (ac *advertCache) evictLocked() {
	var oldest string
	var at time.Time
	for mac, s := range ac.byMAC {
		if !s.pinned && (oldest == "" || s.at.Before(at)) {
			oldest, at = mac, s.at
		}
	}
	delete(ac.byMAC, oldest)
}

func (ac *advertCache) get(mac string) (advert, uint64, bool) {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	s, ok := ac.byMAC[mac]
	if !ok {
		return advert{}, 0, false
	}
	return s.a, s.seq, true
}

// list returns the advertisements remembered, by MAC address.
func (ac *advertCache) list() []advert {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	out := make([]advert, 0, len(ac.byMAC))
	for _, s := range ac.byMAC {
		out = append(out, s.a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].mac < out[j].mac })
	return out
}
