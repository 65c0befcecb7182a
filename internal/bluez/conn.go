package bluez

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/godbus/dbus/v5"
)

const (
	service          = "org.bluez"
	ifaceAdapter     = "org.bluez.Adapter1"
	ifaceDevice      = "org.bluez.Device1"
	ifaceService     = "org.bluez.GattService1"
	ifaceChar        = "org.bluez.GattCharacteristic1"
	ifaceMonitor     = "org.bluez.AdvertisementMonitor1"
	ifaceMonitorMgr  = "org.bluez.AdvertisementMonitorManager1"
	ifaceProps       = "org.freedesktop.DBus.Properties"
	ifaceObjManager  = "org.freedesktop.DBus.ObjectManager"
	defaultSystemBus = "unix:path=/run/dbus/system_bus_socket"
	busPath          = dbus.ObjectPath("/org/freedesktop/DBus") // NameOwnerChanged comes from here

	// signalQueue bounds the signals waiting for the dispatcher; when it is full the bus reader waits
	// (back-pressure instead of dropping notifications or spawning goroutines).
	signalQueue = 1024
)

// managedObjects is the reply of ObjectManager.GetManagedObjects.
type managedObjects = map[dbus.ObjectPath]map[string]map[string]dbus.Variant

// Conn is one private connection to the bus bluetoothd is on, with its signal dispatcher. It is safe for
// concurrent use. Close it to stop the dispatcher and release the connection.
type Conn struct {
	bus  *dbus.Conn
	sigs chan *dbus.Signal
	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu       sync.Mutex
	nextID   uint64
	exact    map[dbus.ObjectPath]map[uint64]func(*dbus.Signal) // signals about this object
	children map[dbus.ObjectPath]map[uint64]func(*dbus.Signal) // signals about direct children of this object
	closeErr error
	closed   bool

	// discovery counts this connection's users of each adapter's discovery session (BlueZ keeps one session per
	// client): Scan and Connect share it, the last one stops it. discLock serialises start and stop.
	discLock  chan struct{}
	discUsers map[dbus.ObjectPath]int
	nextScan  uint64 // numbers exported monitor objects
}

// signalSink is the bus's signal handler: it queues every signal for the one dispatcher goroutine.
type signalSink struct {
	ch   chan *dbus.Signal
	done <-chan struct{}
}

// DeliverSignal runs on the bus reader goroutine; it waits while the queue is full.
func (s signalSink) DeliverSignal(_, _ string, sig *dbus.Signal) {
	select {
	case s.ch <- sig:
	case <-s.done:
	}
}

// Dial opens a private connection to the bus at address ("" means $DBUS_SYSTEM_BUS_ADDRESS, else the standard
// system bus socket), authenticates, says Hello, adds match rules for BlueZ's signals (sender org.bluez only) and
// starts the dispatcher. ctx bounds the dialing only.
func Dial(ctx context.Context, address string) (*Conn, error) {
	if address == "" {
		address = os.Getenv("DBUS_SYSTEM_BUS_ADDRESS")
	}
	if address == "" {
		address = defaultSystemBus
	}
	c := &Conn{
		sigs:      make(chan *dbus.Signal, signalQueue),
		done:      make(chan struct{}),
		exact:     map[dbus.ObjectPath]map[uint64]func(*dbus.Signal){},
		children:  map[dbus.ObjectPath]map[uint64]func(*dbus.Signal){},
		discLock:  make(chan struct{}, 1),
		discUsers: map[dbus.ObjectPath]int{},
	}
	bus, err := dbus.Dial(address, dbus.WithSignalHandler(signalSink{ch: c.sigs, done: c.done}))
	if err != nil {
		return nil, fmt.Errorf("bluez: dial %s: %w", address, err)
	}
	// Auth and Hello take no context: closing the connection when ctx ends unblocks them.
	stop := context.AfterFunc(ctx, func() { bus.Close() })
	err = bus.Auth(nil)
	if err == nil {
		err = bus.Hello()
	}
	if !stop() || err != nil {
		bus.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("bluez: connect %s: %w", address, err)
	}
	c.bus = bus
	for _, rule := range [][]dbus.MatchOption{
		{dbus.WithMatchInterface(ifaceProps), dbus.WithMatchMember("PropertiesChanged")},
		{dbus.WithMatchInterface(ifaceObjManager), dbus.WithMatchMember("InterfacesAdded")},
		{dbus.WithMatchInterface(ifaceObjManager), dbus.WithMatchMember("InterfacesRemoved")},
	} {
		rule = append(rule, dbus.WithMatchSender(service))
		if err := bus.AddMatchSignalContext(ctx, rule...); err != nil {
			bus.Close()
			return nil, fmt.Errorf("bluez: add match rule: %w", wrapErr(err))
		}
	}
	// bluetoothd leaving the bus (stopped, restarted) ends every connection made through it.
	if err := bus.AddMatchSignalContext(ctx, dbus.WithMatchSender("org.freedesktop.DBus"),
		dbus.WithMatchInterface("org.freedesktop.DBus"), dbus.WithMatchMember("NameOwnerChanged"),
		dbus.WithMatchArg(0, service)); err != nil {
		bus.Close()
		return nil, fmt.Errorf("bluez: add match rule: %w", wrapErr(err))
	}
	c.wg.Add(1)
	go c.dispatch()
	return c, nil
}

// Close releases the bus connection and stops the dispatcher; pending calls fail. Safe to call more than once.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.closeErr
	}
	c.closed = true
	close(c.done)
	c.mu.Unlock()
	err := c.bus.Close()
	c.wg.Wait()
	c.mu.Lock()
	c.closeErr = err
	c.mu.Unlock()
	return err
}

// dispatch routes every queued signal to the handlers of its object and of its parent object: two map lookups,
// whatever the number of devices and subscriptions.
func (c *Conn) dispatch() {
	defer c.wg.Done()
	var hs []func(*dbus.Signal)
	for {
		var sig *dbus.Signal
		select {
		case sig = <-c.sigs:
		case <-c.done:
			return
		}
		path := sig.Path
		if strings.HasPrefix(sig.Name, ifaceObjManager+".") && len(sig.Body) > 0 {
			// InterfacesAdded/Removed come from the manager's path and name the object in their first argument.
			p, ok := sig.Body[0].(dbus.ObjectPath)
			if !ok {
				continue
			}
			path = p
		}
		hs = hs[:0]
		c.mu.Lock()
		for _, h := range c.exact[path] {
			hs = append(hs, h)
		}
		for _, h := range c.children[parent(path)] {
			hs = append(hs, h)
		}
		c.mu.Unlock()
		for _, h := range hs {
			h(&dbus.Signal{Sender: sig.Sender, Path: path, Name: sig.Name, Body: sig.Body, Sequence: sig.Sequence})
		}
	}
}

// route registers h for signals about path (children false) or about its direct children (children true), and
// returns the function that removes it. h runs on the dispatcher goroutine.
func (c *Conn) route(path dbus.ObjectPath, children bool, h func(*dbus.Signal)) (remove func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	table := c.exact
	if children {
		table = c.children
	}
	c.nextID++
	id := c.nextID
	if table[path] == nil {
		table[path] = map[uint64]func(*dbus.Signal){}
	}
	table[path][id] = h
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(table[path], id)
		if len(table[path]) == 0 {
			delete(table, path)
		}
	}
}

// call invokes a BlueZ method and stores its reply in out; BlueZ's errors come back as *Error.
func (c *Conn) call(ctx context.Context, path dbus.ObjectPath, method string, out []any, args ...any) error {
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	call := c.bus.Object(service, path).CallWithContext(ctx, method, 0, args...)
	if call.Err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s on %s: %w", method, path, ctx.Err())
		}
		return fmt.Errorf("%s on %s: %w", method, path, wrapErr(call.Err))
	}
	if len(out) > 0 {
		if err := call.Store(out...); err != nil {
			return fmt.Errorf("%s on %s: reply: %w", method, path, err)
		}
	}
	return nil
}

// managed returns BlueZ's objects (ObjectManager.GetManagedObjects at "/").
func (c *Conn) managed(ctx context.Context) (managedObjects, error) {
	var objs managedObjects
	if err := c.call(ctx, "/", ifaceObjManager+".GetManagedObjects", []any{&objs}); err != nil {
		return nil, err
	}
	return objs, nil
}

// parent is the object path one element up ("/" for top-level objects).
func parent(p dbus.ObjectPath) dbus.ObjectPath {
	s := string(p)
	i := strings.LastIndexByte(s, '/')
	if i <= 0 {
		return "/"
	}
	return dbus.ObjectPath(s[:i])
}
