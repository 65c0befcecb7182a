package tbemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// stateFile is the JSON shape of a saved emulator state.
type stateFile struct {
	Devices  []deviceRecord    `json:"devices"`
	Profiles map[string]string `json:"provisionProfiles,omitempty"`
}

type deviceRecord struct {
	DeviceSpec
	CertHash       string                     `json:"certHash,omitempty"`
	LastConnect    time.Time                  `json:"lastConnectTime"`
	LastDisconnect time.Time                  `json:"lastDisconnectTime"`
	LastActivity   time.Time                  `json:"lastActivityTime"`
	LastGateway    string                     `json:"lastConnectedGateway,omitempty"`
	Client         map[string]storedValue     `json:"client,omitempty"`
	Shared         map[string]storedValue     `json:"shared,omitempty"`
	Server         map[string]storedValue     `json:"server,omitempty"`
	Telemetry      map[string][]storedTSValue `json:"telemetry,omitempty"`
}

// storedValue keeps the ThingsBoard type next to the value, so that a
// DOUBLE 1.0 stays a DOUBLE across a save and load.
type storedValue struct {
	Kind  Kind            `json:"kind"`
	Value json.RawMessage `json:"value"`
}

type storedTSValue struct {
	TS int64 `json:"ts"`
	storedValue
}

func toStored(v value) storedValue {
	if v.kind == KindString {
		return storedValue{Kind: v.kind, Value: marshal(v.str)}
	}
	return storedValue{Kind: v.kind, Value: v.appendJSON(nil)}
}

func fromStored(sv storedValue) (value, error) {
	v := value{kind: sv.Kind}
	switch sv.Kind {
	case KindString:
		return v, json.Unmarshal(sv.Value, &v.str)
	case KindJSON:
		v.str = string(sv.Value)
		return v, nil
	case KindLong, KindDouble, KindBool:
		var x any
		if err := json.Unmarshal(sv.Value, &x); err != nil {
			return v, err
		}
		switch t := x.(type) {
		case bool:
			return fromAny(t)
		case float64:
			if sv.Kind == KindLong {
				return fromAny(json.Number(string(sv.Value)))
			}
			return fromAny(t)
		}
	}
	return v, fmt.Errorf("bad stored value %s of kind %d", sv.Value, sv.Kind)
}

func storeScope(m map[string]value) map[string]storedValue {
	out := make(map[string]storedValue, len(m))
	for k, v := range m {
		out[k] = toStored(v)
	}
	return out
}

func loadScope(dst map[string]value, src map[string]storedValue) error {
	for k, sv := range src {
		v, err := fromStored(sv)
		if err != nil {
			return fmt.Errorf("attribute %q: %w", k, err)
		}
		dst[k] = v
	}
	return nil
}

// saveState writes devices, attributes, telemetry and provisioning profiles
// to path (atomically, via a temporary file).
func (s *Server) saveState(path string) error {
	s.mu.Lock()
	st := stateFile{Profiles: s.profiles}
	for _, d := range s.devices {
		r := deviceRecord{
			DeviceSpec: d.spec, CertHash: d.certHash, LastConnect: d.lastConnect, LastDisconnect: d.lastDisconnect,
			LastActivity: d.lastActivity, LastGateway: d.lastGateway,
			Client: storeScope(d.attrs[0]), Shared: storeScope(d.attrs[1]), Server: storeScope(d.attrs[2]),
			Telemetry: map[string][]storedTSValue{},
		}
		for k, sr := range d.series {
			pts := sr.all()
			vals := make([]storedTSValue, len(pts))
			for i, p := range pts {
				vals[i] = storedTSValue{TS: p.ts, storedValue: toStored(p.v)}
			}
			r.Telemetry[k] = vals
		}
		st.Devices = append(st.Devices, r)
	}
	b, err := json.Marshal(st)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encode state for %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tbemu-state-*")
	if err != nil {
		return fmt.Errorf("save state %s: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("save state %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save state %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save state %s: %w", path, err)
	}
	return nil
}

// loadState reads a state file written by saveState; a missing file is fine.
func (s *Server) loadState(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("load state %s: %w", path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range st.Profiles {
		s.profiles[k] = v
	}
	for _, r := range st.Devices {
		d := newDevice(r.DeviceSpec)
		if err := s.indexCredentials(d); err != nil {
			return fmt.Errorf("load state %s: %w", path, err)
		}
		if r.CertHash != "" {
			d.certHash = r.CertHash
			s.certs[r.CertHash] = d
		}
		d.lastConnect, d.lastDisconnect, d.lastActivity, d.lastGateway = r.LastConnect, r.LastDisconnect, r.LastActivity, r.LastGateway
		for i, m := range []map[string]storedValue{r.Client, r.Shared, r.Server} {
			if err := loadScope(d.attrs[i], m); err != nil {
				return fmt.Errorf("load state %s: device %q: %w", path, r.Name, err)
			}
		}
		for k, vals := range r.Telemetry {
			sr := &series{}
			for _, tv := range vals {
				v, err := fromStored(tv.storedValue)
				if err != nil {
					return fmt.Errorf("load state %s: device %q key %q: %w", path, r.Name, k, err)
				}
				sr.put(tv.TS, v, s.opts.MaxValuesPerKey)
			}
			d.series[k] = sr
		}
		s.devices[r.Name] = d
	}
	return nil
}
