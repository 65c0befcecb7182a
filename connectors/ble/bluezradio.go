package ble

import (
	"context"
	"errors"
	"fmt"

	"github.com/tbgateway/tbgateway/internal/bluez"
)

// openBlueZ dials the system bus (Config.BusAddress) and finds the adapter (Config.Adapter).
func openBlueZ(ctx context.Context, c *Config) (radio, func() error, error) {
	conn, err := bluez.Dial(ctx, c.BusAddress)
	if err != nil {
		return nil, nil, fmt.Errorf("system bus: %w", err)
	}
	a, err := conn.Adapter(ctx, c.Adapter)
	if err != nil {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("adapter %q: %w", c.Adapter, err)
	}
	return bluezRadio{a}, conn.Close, nil
}

// bluezRadio is a radio on a BlueZ adapter.
type bluezRadio struct{ a *bluez.Adapter }

// adLocalName is the AD type of the complete local name, which a passive scan matches scanner.deviceName with.
const adLocalName = 0x09

func (r bluezRadio) scan(ctx context.Context, passive bool, names []string, fn func(advert)) error {
	opts := bluez.ScanOptions{Passive: passive}
	for _, n := range names {
		opts.Patterns = append(opts.Patterns, bluez.Pattern{ADType: adLocalName, Content: []byte(n)})
	}
	err := r.a.Scan(ctx, opts, func(a bluez.Advertisement) {
		fn(advert{mac: a.Address, name: a.Name, rssi: a.RSSI, manufacturer: a.ManufacturerData, service: a.ServiceData})
	})
	if errors.Is(err, bluez.ErrPassiveUnsupported) {
		return fmt.Errorf("%w: %w", errPassiveUnsupported, err)
	}
	return err
}

func (r bluezRadio) connect(ctx context.Context, mac string) (link, error) {
	d, err := r.a.Connect(ctx, mac)
	if err != nil {
		return nil, err
	}
	return bluezLink{d}, nil
}

// bluezLink is a link to a BlueZ device.
type bluezLink struct{ d *bluez.Device }

func (l bluezLink) services() []gattService {
	var out []gattService
	for _, s := range l.d.Services() {
		gs := gattService{uuid: s.UUID}
		for _, ch := range s.Characteristics {
			gs.chars = append(gs.chars, gattChar{uuid: ch.UUID, flags: ch.Flags})
		}
		out = append(out, gs)
	}
	return out
}

func (l bluezLink) read(ctx context.Context, uuid string) ([]byte, error) { return l.d.Read(ctx, uuid) }

func (l bluezLink) write(ctx context.Context, uuid string, data []byte, withResponse bool) error {
	return l.d.Write(ctx, uuid, data, withResponse)
}

func (l bluezLink) subscribe(ctx context.Context, uuid string, fn func([]byte)) (func(context.Context) error, error) {
	return l.d.Subscribe(ctx, uuid, fn)
}

func (l bluezLink) gone() <-chan struct{}                { return l.d.Gone() }
func (l bluezLink) disconnect(ctx context.Context) error { return l.d.Disconnect(ctx) }
