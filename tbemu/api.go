package tbemu

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Devices returns every device's state, sorted by name.
func (s *Server) Devices() []DeviceState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]DeviceState, 0, len(s.devices))
	for _, d := range s.devices {
		out = append(out, d.state())
	}
	slices.SortFunc(out, func(a, b DeviceState) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Device returns one device's state.
func (s *Server) Device(name string) (DeviceState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[name]
	if d == nil {
		return DeviceState{}, false
	}
	return d.state(), true
}

// DeviceCredentials returns the credentials a device authenticates with (token, MQTT basic credentials or
// certificate PEM), as created, updated or provisioned.
func (s *Server) DeviceCredentials(name string) (DeviceSpec, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[name]
	if d == nil {
		return DeviceSpec{}, false
	}
	return d.spec, true
}

// Telemetry returns the stored values of device's key, ascending by ts.
func (s *Server) Telemetry(device, key string) []TSValue {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[device]
	if d == nil {
		return nil
	}
	sr := d.series[key]
	if sr == nil {
		return nil
	}
	pts := sr.all()
	out := make([]TSValue, len(pts))
	for i, p := range pts {
		out[i] = TSValue{TS: p.ts, Value: p.v.toAny()}
	}
	return out
}

// Keys returns device's telemetry keys, sorted.
func (s *Server) Keys(device string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[device]
	if d == nil {
		return nil
	}
	keys := make([]string, 0, len(d.series))
	for k := range d.series {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Latest returns the value with the highest ts of each of device's keys.
func (s *Server) Latest(device string) map[string]TSValue {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[device]
	if d == nil {
		return nil
	}
	out := make(map[string]TSValue, len(d.series))
	for k, sr := range d.series {
		if p, ok := sr.last(); ok {
			out[k] = TSValue{TS: p.ts, Value: p.v.toAny()}
		}
	}
	return out
}

// Claim returns the last claim request of device (its JSON payload), if any.
func (s *Server) Claim(device string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[device]
	if d == nil || d.claim == nil {
		return nil, false
	}
	return slices.Clone(d.claim), true
}

// Messages returns the raw log of received publishes, oldest first. The
// payloads are shared with the log and must not be modified.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs.snapshot()
}

// MessageCount returns how many publishes were received in total (also
// those that fell out of the bounded raw log).
func (s *Server) MessageCount() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs.total
}

// RenameDevice renames a device and sends gateway_device_renamed to the
// gateway it last connected through, as a one-way RPC to the gateway device
// itself that waits (up to a day) until the gateway subscribes to RPC.
func (s *Server) RenameDevice(oldName, newName string) error {
	if newName == "" {
		return fmt.Errorf("rename device %q: empty new name", oldName)
	}
	s.mu.Lock()
	d := s.devices[oldName]
	switch {
	case d == nil:
		s.mu.Unlock()
		return fmt.Errorf("rename device %q: %w", oldName, ErrNoDevice)
	case s.devices[newName] != nil:
		s.mu.Unlock()
		return fmt.Errorf("rename device %q: %q already exists", oldName, newName)
	}
	delete(s.devices, oldName)
	d.spec.Name = newName
	s.devices[newName] = d
	if ss := d.owner; ss != nil && ss.dev != d {
		delete(ss.subDevs, oldName)
		ss.subDevs[newName] = d
	}
	gw := d.lastGateway
	s.mu.Unlock()
	s.notify()
	if gw != "" {
		s.notifyGateway(gw, "gateway_device_renamed", marshal(map[string]string{oldName: newName}))
	}
	return nil
}

// DeleteDevice deletes a device, closes its sub-session silently (or its own
// connection) and sends gateway_device_deleted to its last gateway.
func (s *Server) DeleteDevice(name string) error {
	s.mu.Lock()
	d := s.devices[name]
	if d == nil {
		s.mu.Unlock()
		return fmt.Errorf("delete device %q: %w", name, ErrNoDevice)
	}
	delete(s.devices, name)
	s.unindexCredentials(d)
	var own *session
	if ss := d.owner; ss != nil {
		if ss.dev == d {
			own = ss
		} else {
			delete(ss.subDevs, name)
		}
		d.owner = nil
	}
	gw := d.lastGateway
	s.mu.Unlock()
	if own != nil {
		s.closeSession(own, 0)
	}
	s.notify()
	if gw != "" {
		s.notifyGateway(gw, "gateway_device_deleted", marshal(name))
	}
	return nil
}

// notifyGateway sends a persistent one-way RPC to the gateway device.
func (s *Server) notifyGateway(gw, method string, params json.RawMessage) {
	s.goBG(func() {
		if _, err := s.RPC(context.Background(), gw, method, params, true, 24*time.Hour); err != nil {
			s.log.Debug("gateway notice not delivered", "gateway", gw, "method", method, "error", err)
		}
	})
}

// RefuseConnections makes CONNECTs fail with "server unavailable" (v5 0x88,
// v3 0x03) for d.
func (s *Server) RefuseConnections(d time.Duration) {
	s.mu.Lock()
	s.refuseUntil = time.Now().Add(d)
	s.mu.Unlock()
}

// DropConnections closes every client connection now, without DISCONNECT.
func (s *Server) DropConnections() {
	s.tcp.dropAll()
	if s.tlsL != nil {
		s.tlsL.dropAll()
	}
}

// SetPubAckDelay delays every PUBACK by d (0 = none).
func (s *Server) SetPubAckDelay(d time.Duration) {
	s.mu.Lock()
	s.ackDelay = d
	s.mu.Unlock()
}

// WithholdPubAcks stops (on) or resumes (off) sending PUBACKs; withheld
// PUBACKs are never sent later.
func (s *Server) WithholdPubAcks(on bool) {
	s.mu.Lock()
	s.withhold = on
	s.mu.Unlock()
}

// DropPublishes makes the server discard (on) every PUBLISH it receives, or stop discarding (off): a dropped
// publish is not handled, not stored, not logged in Messages and never acknowledged, as if lost on its way to
// ThingsBoard. The client's connection stays up. Dropped publishes are counted (see DroppedPublishes).
func (s *Server) DropPublishes(on bool) {
	s.mu.Lock()
	s.dropPubs = on
	s.mu.Unlock()
}

// DroppedPublishes returns how many publishes DropPublishes discarded so far.
func (s *Server) DroppedPublishes() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// appendQuoted appends s as a JSON string.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// appendDouble writes a double as Java does for typical values: integral
// values keep ".0".
func appendDouble(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return append(b, "null"...)
	case f == math.Trunc(f) && math.Abs(f) < 1e15:
		b = strconv.AppendFloat(b, f, 'f', -1, 64)
		return append(b, ".0"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
