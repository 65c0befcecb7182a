package tbemu

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// session is one authenticated MQTT connection. Fields other than pktID and
// scratch are guarded by Server.mu; scratch is used only by the connection's
// read goroutine.
type session struct {
	id        uint64
	cl        *mqtt.Client
	v5        bool
	dev       *device // nil for a provisioning session
	provision bool
	gateway   bool                // the device's gateway flag at CONNECT
	subs      map[string]byte     // accepted filters and granted QoS
	subDevs   map[string]*device  // gateway sub-sessions by device name
	limits    *limiter            // the connection's own device limits
	subLimits map[string]*limiter // per sub-device limits
	closed    bool
	acks      *ackConn // nil for connections not from our listener
	metrics   map[string]*connectorMetrics
	lastSeen  time.Time // last packet of this connection
	pktID     atomic.Uint32
	scratch   parseScratch
}

func (ss *session) name() string {
	if ss.dev == nil {
		return ""
	}
	return ss.dev.spec.Name
}

// nextPacketID returns the connection's next outgoing packet id (1..65535).
func (ss *session) nextPacketID() uint16 {
	for {
		id := uint16(ss.pktID.Add(1))
		if id != 0 {
			return id
		}
	}
}

// hook plugs the emulator into mochi. Every publish is handled here and
// rejected towards mochi, so mochi never acknowledges or forwards it.
type hook struct {
	mqtt.HookBase
	s *Server
}

var providedHooks = []byte{
	mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSessionEstablished,
	mqtt.OnDisconnect, mqtt.OnPacketRead, mqtt.OnPacketEncode, mqtt.OnPacketProcessed,
	mqtt.OnSubscribe, mqtt.OnUnsubscribe, mqtt.OnPublish,
}

func (h *hook) ID() string                                 { return "tbemu" }
func (h *hook) Provides(b byte) bool                       { return bytes.IndexByte(providedHooks, b) >= 0 }
func (h *hook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
func (h *hook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool {
	return true // decided in OnConnect, where the CONNACK code can be chosen
}

var errRefused = errors.New("connection refused")

// OnConnect authenticates the client. On failure it writes the CONNACK with
// ThingsBoard's code itself and returns an error, which makes mochi close the
// connection without sending its own CONNACK.
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	s := h.s
	s.mu.Lock()
	dev, prov, r, ok := s.authenticate(cl, pk)
	if ok {
		s.sessSeq++
		ss := &session{
			id: s.sessSeq, cl: cl, v5: pk.ProtocolVersion == 5, dev: dev, provision: prov,
			subs: map[string]byte{}, subDevs: map[string]*device{}, subLimits: map[string]*limiter{},
		}
		ss.scratch.maxString = s.opts.MaxStringValueLength
		if dev != nil {
			ss.gateway = dev.spec.Gateway
		}
		ss.limits = s.newLimiter(ss.gateway, false)
		if ac, ok := cl.Net.Conn.(*ackConn); ok {
			ac.lock = cl
			ss.acks = ac
		}
		s.pendingAuth[cl] = ss
		// Unique mochi ids: ThingsBoard ties sessions to devices, not client
		// ids, so mochi's client-id takeover must never kick in.
		cl.ID = fmt.Sprintf("tbemu-%d", ss.id)
		// ThingsBoard does not enforce keepalive; idle sessions end through
		// the inactivity timeout instead.
		cl.State.Keepalive = 0
		ss.lastSeen = time.Now()
	}
	s.mu.Unlock()
	if ok {
		return nil
	}
	code := r.v3
	if pk.ProtocolVersion == 5 {
		code = r.v5
	}
	s.log.Info("connection refused", "client_id", pk.Connect.ClientIdentifier, "username", string(pk.Connect.Username), "code", code)
	_ = cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: code})
	return fmt.Errorf("%w: code 0x%02x", errRefused, code)
}

// OnSessionEstablished runs after the CONNACK was sent: the session becomes
// the device's only session, evicting an older one.
func (h *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	s := h.s
	var evict *session
	s.mu.Lock()
	ss := s.pendingAuth[cl]
	delete(s.pendingAuth, cl)
	if ss == nil {
		s.mu.Unlock()
		return
	}
	s.sessions[cl] = ss
	if d := ss.dev; d != nil {
		evict = s.takeOver(d, ss)
		now := time.Now()
		d.lastConnect, d.lastActivity = now, now
	}
	s.mu.Unlock()
	if evict != nil {
		s.closeSession(evict, packets.ErrSessionTakenOver.Code)
	}
	s.log.Info("session opened", "device", ss.name(), "provision", ss.provision, "v5", ss.v5)
	s.notify()
}

// takeOver makes ss the owner of d. If d was connected directly elsewhere,
// that session is returned to be closed; a sub-session elsewhere is dropped
// silently. Called with s.mu held.
func (s *Server) takeOver(d *device, ss *session) (evict *session) {
	old := d.owner
	d.owner = ss
	if old == nil || old == ss {
		return nil
	}
	if old.dev == d {
		old.closed = true
		// Its sub-sessions end with it, at once rather than when its
		// connection is finally gone.
		now := time.Now()
		for name, sd := range old.subDevs {
			if sd.owner == old {
				sd.owner = nil
				sd.lastDisconnect = now
			}
			delete(old.subDevs, name)
		}
		return old
	}
	delete(old.subDevs, d.spec.Name)
	return nil
}

// closeSession closes a connection; under MQTT 5 a DISCONNECT with code goes
// first (code 0 closes silently).
func (s *Server) closeSession(ss *session, code byte) {
	if ss.v5 && code != 0 {
		_ = ss.cl.WritePacket(packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Disconnect},
			ReasonCode:  code,
		})
	}
	ss.cl.Stop(fmt.Errorf("closed by tbemu: code 0x%02x", code))
}

// OnDisconnect ends the session and the sub-sessions it held.
func (h *hook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	s := h.s
	s.mu.Lock()
	ss := s.sessions[cl]
	delete(s.sessions, cl)
	delete(s.pendingAuth, cl)
	if ss != nil {
		ss.closed = true
		now := time.Now()
		if d := ss.dev; d != nil && d.owner == ss {
			d.owner = nil
			d.lastDisconnect = now
		}
		for name, d := range ss.subDevs {
			if d.owner == ss {
				d.owner = nil
				d.lastDisconnect = now
			}
			delete(ss.subDevs, name)
		}
	}
	s.mu.Unlock()
	if ss != nil {
		s.log.Info("session closed", "device", ss.name(), "error", err)
		s.notify()
	}
}

// OnPacketRead enforces the packet size limit (ThingsBoard: a bigger packet is a
// decode failure; v5 DISCONNECT 0x81), keeps batched PUBACKs in order with
// other replies and counts PINGREQ as activity.
func (h *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	s := h.s
	oversize := pk.FixedHeader.Remaining > s.opts.MaxPayloadSize
	if ac, ok := cl.Net.Conn.(*ackConn); ok && (oversize || pk.FixedHeader.Type != packets.Publish) {
		ac.flushAcks() // batched PUBACKs go before whatever this packet triggers
	}
	if oversize {
		if cl.Properties.ProtocolVersion == 5 {
			_ = cl.WritePacket(packets.Packet{
				FixedHeader: packets.FixedHeader{Type: packets.Disconnect},
				ReasonCode:  packets.ErrMalformedPacket.Code,
			})
		}
		s.log.Info("packet too large, closing", "client", cl.ID, "size", pk.FixedHeader.Remaining)
		// Only ErrRejectPacket makes mochi end the read loop (other errors are ignored).
		return pk, packets.ErrRejectPacket
	}
	s.mu.Lock()
	if ss := s.sessions[cl]; ss != nil {
		ss.lastSeen = time.Now()
		if pk.FixedHeader.Type == packets.Pingreq && ss.dev != nil {
			ss.dev.lastActivity = ss.lastSeen
		}
	}
	s.mu.Unlock()
	return pk, nil
}

// OnPacketEncode makes the CONNACK look like ThingsBoard's: no properties,
// session present = !clean session although nothing is kept.
func (h *hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack {
		pk.Properties = packets.Properties{}
		pk.SessionPresent = pk.ReasonCode == 0 && !cl.Properties.Clean
	}
	return pk
}

// OnSubscribe accepts only ThingsBoard's exact filters. A refused
// filter is replaced by an invalid one so that mochi answers 0x8F (v5) or
// 0x80 (v3) for it.
func (h *hook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[cl]
	filters := make(packets.Subscriptions, len(pk.Filters))
	copy(filters, pk.Filters)
	for i, f := range filters {
		if ss == nil || !acceptedFilter(f.Filter, ss.provision) {
			filters[i].Filter = rejectedFilter
			continue
		}
		filters[i].Qos = min(f.Qos, 1)
		ss.subs[f.Filter] = filters[i].Qos
	}
	if ss != nil && ss.dev != nil {
		ss.dev.lastActivity = time.Now()
	}
	pk.Filters = filters
	return pk
}

// rejectedFilter is not a valid MQTT filter ('#' not last), so mochi refuses it.
const rejectedFilter = "#/refused-by-tbemu"

// OnUnsubscribe forgets the session's subscriptions.
func (h *hook) OnUnsubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	s := h.s
	s.mu.Lock()
	if ss := s.sessions[cl]; ss != nil {
		for _, f := range pk.Filters {
			delete(ss.subs, f.Filter)
		}
	}
	s.mu.Unlock()
	return pk
}

// OnPacketProcessed resends pending RPCs once a SUBACK for an RPC filter was
// written, as a device actor does when a session subscribes to RPC.
func (h *hook) OnPacketProcessed(cl *mqtt.Client, pk packets.Packet, err error) {
	if err != nil || pk.FixedHeader.Type != packets.Subscribe {
		return
	}
	for _, f := range pk.Filters {
		if f.Filter == topicRPCRequestSub || f.Filter == topicRPCRequestSubV2 {
			h.s.resendPending(cl)
			break
		}
	}
	h.s.notify()
}

// OnPublish handles the publish the way ThingsBoard would and rejects it
// towards mochi, so mochi neither acknowledges nor forwards it.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	h.s.handlePublish(cl, pk)
	return pk, packets.ErrRejectPacket
}
