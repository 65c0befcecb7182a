package bluezsim

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/godbus/dbus/v5"
)

const (
	ifaceAdapter    = "org.bluez.Adapter1"
	ifaceDevice     = "org.bluez.Device1"
	ifaceService    = "org.bluez.GattService1"
	ifaceChar       = "org.bluez.GattCharacteristic1"
	ifaceMonitor    = "org.bluez.AdvertisementMonitor1"
	ifaceMonitorMgr = "org.bluez.AdvertisementMonitorManager1"
	ifaceProps      = "org.freedesktop.DBus.Properties"
	ifaceObjManager = "org.freedesktop.DBus.ObjectManager"
)

// Options shape the simulated adapter.
type Options struct {
	Adapter   string // adapter name, default "hci0"
	Address   string // adapter address, default "00:1A:7D:DA:71:13"
	Monitors  bool   // export AdvertisementMonitorManager1 (passive scanning)
	Unpowered bool   // Powered false: discovery answers org.bluez.Error.NotReady
}

// Sim plays bluetoothd: it owns org.bluez on a bus and serves one adapter with the devices added to it. It is
// safe for concurrent use.
type Sim struct {
	conn    *dbus.Conn
	opts    Options
	adapter dbus.ObjectPath
	sigs    chan *dbus.Signal
	wg      sync.WaitGroup
	closed  chan struct{}

	mu       sync.Mutex
	objects  map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	filters  map[string]map[string]dbus.Variant // sender -> discovery filter
	sessions map[string]bool                    // senders with a discovery session
	devices  map[string]*SimDevice              // by address
	byPath   map[dbus.ObjectPath]*SimDevice
	chars    map[dbus.ObjectPath]*simChar
	monitors map[monitorKey]*monitorApp
	isClosed bool
	// discoveryWake is closed and replaced whenever discovery starts or stops.
	discoveryWake chan struct{}
}

// New connects to the bus at busAddress, owns org.bluez there and exports the adapter (Adapter1, and
// AdvertisementMonitorManager1 when opts.Monitors) and the ObjectManager at "/". ctx bounds the setup.
func New(ctx context.Context, busAddress string, opts Options) (*Sim, error) {
	if opts.Adapter == "" {
		opts.Adapter = "hci0"
	}
	if opts.Address == "" {
		opts.Address = "00:1A:7D:DA:71:13"
	}
	s := &Sim{
		opts:          opts,
		adapter:       dbus.ObjectPath("/org/bluez/" + opts.Adapter),
		sigs:          make(chan *dbus.Signal, 64),
		closed:        make(chan struct{}),
		objects:       map[dbus.ObjectPath]map[string]map[string]dbus.Variant{},
		filters:       map[string]map[string]dbus.Variant{},
		sessions:      map[string]bool{},
		devices:       map[string]*SimDevice{},
		byPath:        map[dbus.ObjectPath]*SimDevice{},
		chars:         map[dbus.ObjectPath]*simChar{},
		monitors:      map[monitorKey]*monitorApp{},
		discoveryWake: make(chan struct{}),
	}
	conn, err := dbus.Connect(busAddress, dbus.WithHandler(handler{s}), dbus.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("bluezsim: connect %s: %w", busAddress, err)
	}
	s.conn = conn
	// Discovery sessions, notify sessions and monitors of a client end when it leaves the bus, as in bluetoothd.
	if err := conn.AddMatchSignalContext(ctx, dbus.WithMatchSender("org.freedesktop.DBus"),
		dbus.WithMatchMember("NameOwnerChanged")); err != nil {
		conn.Close()
		return nil, fmt.Errorf("bluezsim: watch clients: %w", err)
	}
	conn.Signal(s.sigs)
	s.wg.Add(1)
	go s.watchClients()
	ifs := map[string]map[string]dbus.Variant{ifaceAdapter: {
		"Address":      dbus.MakeVariant(opts.Address),
		"AddressType":  dbus.MakeVariant("public"),
		"Name":         dbus.MakeVariant("bluezsim"),
		"Alias":        dbus.MakeVariant("bluezsim"),
		"Class":        dbus.MakeVariant(uint32(0)),
		"Powered":      dbus.MakeVariant(!opts.Unpowered),
		"Discoverable": dbus.MakeVariant(false),
		"Pairable":     dbus.MakeVariant(false),
		"Discovering":  dbus.MakeVariant(false),
		"UUIDs":        dbus.MakeVariant([]string{}),
	}}
	if opts.Monitors {
		ifs[ifaceMonitorMgr] = map[string]dbus.Variant{
			"SupportedMonitorTypes": dbus.MakeVariant([]string{"or_patterns"}),
			"SupportedFeatures":     dbus.MakeVariant([]string{}),
		}
	}
	s.mu.Lock()
	s.addObject(s.adapter, ifs)
	s.mu.Unlock()
	reply, err := conn.RequestName("org.bluez", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		s.Close()
		return nil, fmt.Errorf("bluezsim: own org.bluez: reply %v, %v", reply, err)
	}
	return s, nil
}

// Close releases org.bluez and the bus connection, ends pending connects and waits for the stand-in's goroutines.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.isClosed {
		s.mu.Unlock()
		return nil
	}
	s.isClosed = true
	close(s.closed)
	s.mu.Unlock()
	err := s.conn.Close()
	s.wg.Wait()
	return err
}

// AdapterPath is the adapter's object path, e.g. /org/bluez/hci0.
func (s *Sim) AdapterPath() dbus.ObjectPath { return s.adapter }

// Discovering reports whether any client has a discovery session.
func (s *Sim) Discovering() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions) > 0
}

// watchClients ends the sessions of clients that left the bus.
func (s *Sim) watchClients() {
	defer s.wg.Done()
	for sig := range s.sigs {
		if sig.Name != "org.freedesktop.DBus.NameOwnerChanged" || len(sig.Body) != 3 {
			continue
		}
		name, _ := sig.Body[0].(string)
		owner, _ := sig.Body[2].(string)
		if owner != "" || !strings.HasPrefix(name, ":") {
			continue
		}
		s.mu.Lock()
		s.clientGone(name)
		s.mu.Unlock()
	}
}

// clientGone drops everything a client held. s.mu held.
func (s *Sim) clientGone(sender string) {
	delete(s.filters, sender)
	if s.sessions[sender] {
		delete(s.sessions, sender)
		s.discoveryChanged()
	}
	for _, c := range s.chars {
		if c.sessions[sender] {
			delete(c.sessions, sender)
			c.updateNotifying()
		}
	}
	for k := range s.monitors {
		if k.sender == sender {
			delete(s.monitors, k)
		}
	}
}

// addObject exports an object and announces it (InterfacesAdded). s.mu held.
func (s *Sim) addObject(path dbus.ObjectPath, ifs map[string]map[string]dbus.Variant) {
	s.objects[path] = ifs
	s.conn.Emit("/", ifaceObjManager+".InterfacesAdded", path, ifs)
}

// removeObject withdraws an object and announces it (InterfacesRemoved). s.mu held.
func (s *Sim) removeObject(path dbus.ObjectPath) {
	ifs, ok := s.objects[path]
	if !ok {
		return
	}
	delete(s.objects, path)
	names := make([]string, 0, len(ifs))
	for n := range ifs {
		names = append(names, n)
	}
	sort.Strings(names)
	s.conn.Emit("/", ifaceObjManager+".InterfacesRemoved", path, names)
}

// setProps changes properties of an exported object and emits PropertiesChanged with those that changed (all
// of them when force). s.mu held.
func (s *Sim) setProps(path dbus.ObjectPath, iface string, props map[string]dbus.Variant, force bool) {
	obj, ok := s.objects[path]
	if !ok || obj[iface] == nil {
		return
	}
	changed := map[string]dbus.Variant{}
	for k, v := range props {
		if old, had := obj[iface][k]; force || !had || !sameVariant(old, v) {
			changed[k] = v
		}
		obj[iface][k] = v
	}
	if len(changed) > 0 {
		s.conn.Emit(path, ifaceProps+".PropertiesChanged", iface, changed, []string{})
	}
}

// dropProps removes properties and emits them as invalidated. s.mu held.
func (s *Sim) dropProps(path dbus.ObjectPath, iface string, names ...string) {
	obj, ok := s.objects[path]
	if !ok || obj[iface] == nil {
		return
	}
	var gone []string
	for _, n := range names {
		if _, had := obj[iface][n]; had {
			delete(obj[iface], n)
			gone = append(gone, n)
		}
	}
	if len(gone) > 0 {
		s.conn.Emit(path, ifaceProps+".PropertiesChanged", iface, map[string]dbus.Variant{}, gone)
	}
}

func sameVariant(a, b dbus.Variant) bool {
	return a.Signature() == b.Signature() && fmt.Sprint(a.Value()) == fmt.Sprint(b.Value())
}
