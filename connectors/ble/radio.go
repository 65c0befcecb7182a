package ble

import "context"

// radio is what the connector needs of one Bluetooth adapter. The product uses BlueZ over D-Bus (bluezRadio);
// unit tests use a fake.
type radio interface {
	// scan reports advertisements until ctx ends. passive asks for a passive scan with the local-name patterns
	// names; it fails with an error wrapping errPassiveUnsupported when the adapter cannot.
	scan(ctx context.Context, passive bool, names []string, fn func(advert)) error
	// connect connects to the device and returns once its services are resolved, or fails when ctx ends.
	connect(ctx context.Context, mac string) (link, error)
}

// link is one connection to a device.
type link interface {
	services() []gattService
	read(ctx context.Context, uuid string) ([]byte, error)
	write(ctx context.Context, uuid string, data []byte, withResponse bool) error
	// subscribe calls fn for every notified value, in order, from a goroutine that must not block.
	subscribe(ctx context.Context, uuid string, fn func([]byte)) (stop func(context.Context) error, err error)
	// gone is closed when the device disconnected or went away.
	gone() <-chan struct{}
	disconnect(ctx context.Context) error
}

// advert is one advertisement seen by the scanner.
type advert struct {
	mac, name    string
	rssi         int16
	manufacturer map[uint16][]byte
	service      map[string][]byte // lower-case 128-bit service UUID -> data
}

type gattService struct {
	uuid  string
	chars []gattChar
}

type gattChar struct {
	uuid  string
	flags []string
}
