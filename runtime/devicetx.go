package runtime

// DeviceTx is a set of device-table changes not yet applied: the sink decides with it which connect records a
// batch needs, stores the batch, and commits only once the store succeeded, so that a failed store leaves the
// table as it was and a retry announces the device again. A DeviceTx is used by one goroutine; concurrent ones
// do not see each other, so two of them may both announce a new device (a duplicate connect, never a lost one).
type DeviceTx struct {
	t      *DeviceTable
	view   map[string]*txDevice
	order  []string
	staged []string // names this Tx made visible with Stage
}

// txDevice is a device as a DeviceTx left it.
type txDevice struct {
	Device
	exists     bool
	registered bool // Register changed something: Commit writes owner, type and flag
	flagged    bool // SetDisconnected changed the flag of a known device
}

// Begin opens a DeviceTx on the table.
func (t *DeviceTable) Begin() *DeviceTx { return &DeviceTx{t: t} }

func (tx *DeviceTx) get(name string) *txDevice {
	if v, ok := tx.view[name]; ok {
		return v
	}
	v := &txDevice{Device: Device{Name: name}}
	tx.t.mu.RLock()
	if d, ok := tx.t.devices[name]; ok {
		v.Device, v.exists = *d, true
	}
	tx.t.mu.RUnlock()
	if tx.view == nil {
		tx.view = map[string]*txDevice{}
	}
	tx.view[name] = v
	tx.order = append(tx.order, name)
	return v
}

// Register is DeviceTable.Register on the Tx's view of the table: it reports whether the call would change what
// is persisted (the device is new, changed type or owner, or was disconnected), without changing the table.
func (tx *DeviceTx) Register(name, deviceType, connectorName, connectorType string) (changed bool) {
	v := tx.get(name)
	if v.exists && v.Type == deviceType && v.ConnectorName == connectorName && v.ConnectorType == connectorType && !v.Disconnected {
		return false
	}
	changed = !v.exists || v.Type != deviceType || v.ConnectorName != connectorName || v.Disconnected
	v.exists, v.registered = true, true
	v.Type, v.ConnectorName, v.ConnectorType, v.Disconnected = deviceType, connectorName, connectorType, false
	return changed
}

// SetDisconnected is DeviceTable.SetDisconnected on the Tx's view: it reports whether the flag would change;
// devices unknown to the view are ignored.
func (tx *DeviceTx) SetDisconnected(name string, disconnected bool) (changed bool) {
	v := tx.get(name)
	if !v.exists || v.Disconnected == disconnected {
		return false
	}
	v.Disconnected, v.flagged = disconnected, true
	return true
}

// Stage makes the devices the Tx registers visible to Owner and Lookup before Commit, without persisting them:
// the records the Tx decided on can reach ThingsBoard, and ThingsBoard can call the device back, before the sink
// commits. Commit or Abort ends the staging; until then the table answers with the Tx's view of those devices.
func (tx *DeviceTx) Stage() {
	t := tx.t
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, name := range tx.order {
		v := tx.view[name]
		if !v.registered {
			continue
		}
		if t.pending == nil {
			t.pending = map[string]*stagedDevice{}
		}
		sd := t.pending[name]
		if sd == nil {
			sd = &stagedDevice{}
			t.pending[name] = sd
		}
		sd.Device = v.Device
		sd.refs++
		tx.staged = append(tx.staged, name)
	}
	if len(tx.staged) > 0 {
		t.signalLocked()
	}
}

// Abort drops the Tx: the table stays as it was and what Stage made visible disappears.
func (tx *DeviceTx) Abort() {
	if len(tx.staged) > 0 {
		tx.t.mu.Lock()
		tx.unstageLocked()
		tx.t.mu.Unlock()
	}
	tx.view, tx.order = nil, nil
}

func (tx *DeviceTx) unstageLocked() {
	for _, name := range tx.staged {
		if sd := tx.t.pending[name]; sd != nil {
			if sd.refs--; sd.refs <= 0 {
				delete(tx.t.pending, name)
			}
		}
	}
	tx.staged = nil
}

// Commit applies the Tx's changes to the table and rewrites the file once if anything persisted changed; the
// error is the write's (the changes stay in memory). A DeviceTx that is dropped instead changes nothing.
func (tx *DeviceTx) Commit() error {
	t := tx.t
	dirty, locked := false, false
	for _, name := range tx.order {
		v := tx.view[name]
		if !v.registered && !v.flagged {
			continue
		}
		if !locked {
			t.mu.Lock()
			defer t.mu.Unlock()
			locked = true
		}
		d, ok := t.devices[name]
		switch {
		case v.registered:
			if !ok {
				d = &Device{Name: name}
				t.devices[name] = d
			}
			dirty = dirty || !ok || d.Type != v.Type || d.ConnectorName != v.ConnectorName || d.Disconnected != v.Disconnected
			if d.ConnectorName != v.ConnectorName {
				d.ConnectorID = ""
			}
			d.Type, d.ConnectorName, d.ConnectorType, d.Disconnected = v.Type, v.ConnectorName, v.ConnectorType, v.Disconnected
		case ok && d.Disconnected != v.Disconnected:
			d.Disconnected = v.Disconnected
			dirty = true
		}
	}
	if locked {
		tx.unstageLocked() // a staged Tx registered something, so the lock is held
		t.signalLocked()
	}
	tx.view, tx.order = nil, nil
	if !dirty {
		return nil
	}
	return t.saveLocked()
}
