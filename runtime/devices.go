package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// Device is one device the gateway knows: its name as the connector reports it, and who owns it.
type Device struct {
	// Name is the device name the connector uses (the key in connected_devices.json).
	Name string
	// Type is the device type (ThingsBoard device profile).
	Type string
	// ConnectorName is the name of the connector that owns the device.
	ConnectorName string
	// ConnectorType is the owning connector's type; it is not persisted, so it is empty after a restart until the
	// connector registers the device again.
	ConnectorType string
	// ConnectorID is the Python gateway's connector id, kept from the file when present.
	ConnectorID string
	// Renamed is the device's name at ThingsBoard after a rename, or empty.
	Renamed string
	// Disconnected says the gateway told ThingsBoard the device disconnected.
	Disconnected bool
}

// TBName returns the device's name at ThingsBoard: Renamed when set, else Name.
func (d Device) TBName() string {
	if d.Renamed != "" {
		return d.Renamed
	}
	return d.Name
}

// deviceFileEntry is one value of connected_devices.json, the Python gateway's shape.
type deviceFileEntry struct {
	ConnectorName string `json:"connectorName"`
	ConnectorID   string `json:"connectorId,omitempty"`
	DeviceType    string `json:"deviceType"`
	Renaming      string `json:"renaming,omitempty"`
	Disconnected  bool   `json:"disconnected,omitempty"`
}

// DeviceTable is the gateway's registry of devices: which connector owns each device, its type, its rename at
// ThingsBoard and whether it is disconnected. It is persisted as connected_devices.json in the Python gateway's
// shape {name: {connectorName, connectorId?, deviceType, renaming?, disconnected?}}, rewritten atomically (temp
// file, fsync, rename) after every change, so a restart knows its devices. It is safe for concurrent use.
//
// Names: the table is keyed by the name the connector uses. After ThingsBoard renames a device
// (gateway_device_renamed), records go out under the new name (OutboundName) and calls from ThingsBoard that
// use the new name are mapped back (InboundName), as the Python gateway's handleDeviceRenaming does.
type DeviceTable struct {
	path string

	mu      sync.RWMutex
	devices map[string]*Device
	byTB    map[string]string        // ThingsBoard name of a renamed device -> connector-side name
	pending map[string]*stagedDevice // registered by a DeviceTx whose records are being stored (DeviceTx.Stage)
	changed chan struct{}            // closed when a device is registered or staged (see Changes); nil if unasked
	saves   int                      // completed writes, for tests
}

// OpenDeviceTable loads the table from path; a missing file gives an empty table. An empty path keeps the
// table in memory only. A file that cannot be read or decoded is an error naming the path.
func OpenDeviceTable(path string) (*DeviceTable, error) {
	t := &DeviceTable{path: path, devices: map[string]*Device{}, byTB: map[string]string{}}
	if path == "" {
		return t, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read device table: %w", err)
	}
	var file map[string]deviceFileEntry
	if err := json.Unmarshal(b, &file); err != nil {
		return nil, fmt.Errorf("decode device table %q: %w", path, err)
	}
	for name, e := range file {
		if name == "" {
			continue
		}
		d := &Device{Name: name, Type: e.DeviceType, ConnectorName: e.ConnectorName, ConnectorID: e.ConnectorID,
			Renamed: e.Renaming, Disconnected: e.Disconnected}
		if d.Renamed == name {
			d.Renamed = ""
		}
		t.devices[name] = d
		if d.Renamed != "" {
			t.byTB[d.Renamed] = name
		}
	}
	return t, nil
}

// Register records that connectorName (of type connectorType) owns device name of type deviceType (stored as
// given) and clears its disconnected flag. It reports whether anything persisted changed, in which case the file
// was rewritten; the error is the write's (the change stays in memory). A call that changes nothing takes only a
// read lock and writes nothing, so it is cheap enough for every record.
func (t *DeviceTable) Register(name, deviceType, connectorName, connectorType string) (changed bool, err error) {
	tx := t.Begin()
	changed = tx.Register(name, deviceType, connectorName, connectorType)
	return changed, tx.Commit()
}

// stagedDevice is a device a DeviceTx staged; refs counts the staging Txs not yet committed or aborted.
type stagedDevice struct {
	Device
	refs int
}

// Owner returns the device registered under its connector-side name, or staged by a DeviceTx whose records are
// being stored.
func (t *DeviceTable) Owner(name string) (Device, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if d, ok := t.devices[name]; ok {
		return *d, true
	}
	if sd, ok := t.pending[name]; ok {
		return sd.Device, true
	}
	return Device{}, false
}

// Changes returns a channel closed at the next registration of a device (Commit of a DeviceTx that registered
// one, or Stage): read it before a Lookup, then wait on it to see a device appear without polling.
func (t *DeviceTable) Changes() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.changed == nil {
		t.changed = make(chan struct{})
	}
	return t.changed
}

// signalLocked wakes the waiters of Changes; t.mu is held for writing.
func (t *DeviceTable) signalLocked() {
	if t.changed != nil {
		close(t.changed)
		t.changed = nil
	}
}

// Lookup finds a device by the name ThingsBoard uses for it (its new name after a rename, else its own name).
func (t *DeviceTable) Lookup(tbName string) (Device, bool) {
	return t.Owner(t.InboundName(tbName))
}

// OutboundName maps a connector-side name to the name used at ThingsBoard.
func (t *DeviceTable) OutboundName(name string) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if d, ok := t.devices[name]; ok && d.Renamed != "" {
		return d.Renamed
	}
	return name
}

// InboundName maps a name used by ThingsBoard back to the connector-side name.
func (t *DeviceTable) InboundName(tbName string) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if name, ok := t.byTB[tbName]; ok {
		return name
	}
	return tbName
}

// Rename records that ThingsBoard renamed the device it knows as oldName to newName. oldName may be the
// device's current ThingsBoard name or its connector-side name; renaming back to the connector-side name removes
// the rename. It reports whether the device is known; unknown devices are not added.
func (t *DeviceTable) Rename(oldName, newName string) (known bool, err error) {
	if newName == "" {
		return false, fmt.Errorf("rename device %q: empty new name", oldName)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	name := oldName
	if n, ok := t.byTB[oldName]; ok {
		name = n
	}
	d, ok := t.devices[name]
	if !ok {
		return false, nil
	}
	if d.Renamed != "" {
		delete(t.byTB, d.Renamed)
	}
	d.Renamed = newName
	if newName == name {
		d.Renamed = ""
	} else {
		t.byTB[newName] = name
	}
	return true, t.saveLocked()
}

// Delete forgets a device, named as ThingsBoard or as the connector knows it. It reports whether it was known.
func (t *DeviceTable) Delete(name string) (known bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n, ok := t.byTB[name]; ok {
		name = n
	}
	d, ok := t.devices[name]
	if !ok {
		return false, nil
	}
	if d.Renamed != "" {
		delete(t.byTB, d.Renamed)
	}
	delete(t.devices, name)
	return true, t.saveLocked()
}

// SetDisconnected sets the disconnected flag of a device (connector-side name). It reports whether the flag
// changed; unknown devices are ignored.
func (t *DeviceTable) SetDisconnected(name string, disconnected bool) (changed bool, err error) {
	tx := t.Begin()
	changed = tx.SetDisconnected(name, disconnected)
	return changed, tx.Commit()
}

// List returns every device, sorted by name.
func (t *DeviceTable) List() []Device {
	return t.filter(func(*Device) bool { return true })
}

// ByConnector returns the devices owned by the named connector, sorted by name.
func (t *DeviceTable) ByConnector(connectorName string) []Device {
	return t.filter(func(d *Device) bool { return d.ConnectorName == connectorName })
}

func (t *DeviceTable) filter(keep func(*Device) bool) []Device {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Device, 0, len(t.devices))
	for _, d := range t.devices {
		if keep(d) {
			out = append(out, *d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// saveLocked rewrites the file atomically; t.mu is held for writing, which also orders concurrent saves.
func (t *DeviceTable) saveLocked() error {
	if t.path == "" {
		return nil
	}
	file := make(map[string]deviceFileEntry, len(t.devices))
	for name, d := range t.devices {
		file[name] = deviceFileEntry{ConnectorName: d.ConnectorName, ConnectorID: d.ConnectorID, DeviceType: d.Type,
			Renaming: d.Renamed, Disconnected: d.Disconnected}
	}
	b, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return fmt.Errorf("encode device table: %w", err)
	}
	if err := writeFileAtomic(t.path, b); err != nil {
		return fmt.Errorf("save device table: %w", err)
	}
	t.saves++
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the old or the new content.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	// Persist the rename itself; a directory that cannot be synced (some filesystems) is not an error.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
