package bluez

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/godbus/dbus/v5"
)

// Adapter is one BlueZ adapter (org.bluez.Adapter1), e.g. hci0.
type Adapter struct {
	c       *Conn
	path    dbus.ObjectPath
	name    string
	address string
	monitor bool // has AdvertisementMonitorManager1
}

// Adapter finds an adapter by name ("hci0"); "" means the first one BlueZ lists (in path order). Errors:
// ErrAdapterNotFound, ErrNotPowered, or the bus error.
func (c *Conn) Adapter(ctx context.Context, name string) (*Adapter, error) {
	objs, err := c.managed(ctx)
	if err != nil {
		return nil, err
	}
	var paths []string
	for p, ifs := range objs {
		if _, ok := ifs[ifaceAdapter]; ok {
			paths = append(paths, string(p))
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		path := dbus.ObjectPath(p)
		if name != "" && p[strings.LastIndexByte(p, '/')+1:] != name {
			continue
		}
		props := objs[path][ifaceAdapter]
		a := &Adapter{c: c, path: path, name: p[strings.LastIndexByte(p, '/')+1:]}
		a.address, _ = props["Address"].Value().(string)
		_, a.monitor = objs[path][ifaceMonitorMgr]
		if powered, _ := props["Powered"].Value().(bool); !powered {
			return nil, fmt.Errorf("adapter %s: %w", a.name, ErrNotPowered)
		}
		return a, nil
	}
	if name == "" {
		return nil, ErrAdapterNotFound
	}
	return nil, fmt.Errorf("adapter %q: %w", name, ErrAdapterNotFound)
}

// Name is the adapter's name, e.g. "hci0".
func (a *Adapter) Name() string { return a.name }

// Address is the adapter's Bluetooth address as BlueZ reports it.
func (a *Adapter) Address() string { return a.address }
