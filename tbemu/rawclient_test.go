package tbemu

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// waitBound is only a failure bound for awaited events, never a sync tool.
const waitBound = 10 * time.Second

// rawClient is a minimal MQTT 3.1.1 / 5 client built on mochi's packet
// codec, so tests see exactly which packets the emulator writes.
type rawClient struct {
	t      testing.TB
	conn   net.Conn
	v      byte
	in     chan packets.Packet
	done   chan struct{} // closed when the server closed the connection
	mu     sync.Mutex
	nextID uint16
}

type connectOpts struct {
	clientID, user, pass string
	noUser, noPass       bool
	tls                  *tls.Config
}

// dialRaw connects and returns the client and the CONNACK.
func dialRaw(t testing.TB, addr string, v byte, o connectOpts) (*rawClient, packets.Packet) {
	t.Helper()
	var conn net.Conn
	var err error
	if o.tls != nil {
		conn, err = tls.Dial("tcp", addr, o.tls)
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &rawClient{t: t, conn: conn, v: v, in: make(chan packets.Packet, 1024), done: make(chan struct{})}
	t.Cleanup(func() { conn.Close(); <-c.done })
	go c.readLoop()
	name := "MQTT"
	if v == 3 {
		name = "MQIsdp"
	}
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: v,
		Connect: packets.ConnectParams{
			ProtocolName: []byte(name), Clean: true, Keepalive: 60, ClientIdentifier: o.clientID,
			Username: []byte(o.user), UsernameFlag: o.user != "" && !o.noUser,
			Password: []byte(o.pass), PasswordFlag: o.pass != "" && !o.noPass,
		},
	}
	c.send(pk)
	ack := c.expect(func(p packets.Packet) bool { return p.FixedHeader.Type == packets.Connack })
	return c, ack
}

func (c *rawClient) send(pk packets.Packet) {
	c.t.Helper()
	pk.ProtocolVersion = c.v
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	case packets.Unsubscribe:
		err = pk.UnsubscribeEncode(&buf)
	}
	if err != nil {
		c.t.Fatalf("encode %v: %v", pk.FixedHeader.Type, err)
	}
	c.conn.Write(buf.Bytes()) // a closed connection shows up as c.done
}

func (c *rawClient) id() uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	return c.nextID
}

// publish sends a publish and returns its packet id.
func (c *rawClient) publish(topic string, payload []byte, qos byte) uint16 {
	c.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, TopicName: topic, Payload: payload}
	if qos > 0 {
		pk.PacketID = c.id()
	}
	c.send(pk)
	return pk.PacketID
}

func (c *rawClient) subscribe(filters ...string) packets.Packet {
	c.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: c.id()}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: 1})
	}
	c.send(pk)
	id := pk.PacketID
	return c.expect(func(p packets.Packet) bool { return p.FixedHeader.Type == packets.Suback && p.PacketID == id })
}

// puback publishes and waits for the PUBACK of that publish.
func (c *rawClient) puback(topic string, payload []byte) packets.Packet {
	c.t.Helper()
	id := c.publish(topic, payload, 1)
	return c.expect(isPuback(id))
}

func isPuback(id uint16) func(packets.Packet) bool {
	return func(p packets.Packet) bool { return p.FixedHeader.Type == packets.Puback && p.PacketID == id }
}

func isPublish(topic string) func(packets.Packet) bool {
	return func(p packets.Packet) bool { return p.FixedHeader.Type == packets.Publish && p.TopicName == topic }
}

// sync sends a PINGREQ and returns every packet received before its
// PINGRESP: the server handles a connection's packets in order, so this
// shows what earlier packets produced (or did not).
func (c *rawClient) sync() []packets.Packet {
	c.t.Helper()
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	var seen []packets.Packet
	timer := time.NewTimer(waitBound)
	defer timer.Stop()
	for {
		select {
		case p, ok := <-c.in:
			if !ok {
				c.t.Fatalf("connection closed while waiting for PINGRESP (seen %v)", types(seen))
			}
			if p.FixedHeader.Type == packets.Pingresp {
				return seen
			}
			seen = append(seen, p)
		case <-timer.C:
			c.t.Fatalf("no PINGRESP within %v", waitBound)
		}
	}
}

func types(ps []packets.Packet) []byte {
	var out []byte
	for _, p := range ps {
		out = append(out, p.FixedHeader.Type)
	}
	return out
}

// expect returns the next packet matching pred, skipping others.
func (c *rawClient) expect(pred func(packets.Packet) bool) packets.Packet {
	c.t.Helper()
	timer := time.NewTimer(waitBound)
	defer timer.Stop()
	for {
		select {
		case p, ok := <-c.in:
			if !ok {
				c.t.Fatalf("connection closed before the expected packet")
			}
			if pred(p) {
				return p
			}
		case <-timer.C:
			c.t.Fatalf("expected packet not received within %v", waitBound)
		}
	}
}

// expectClosed waits until the server closes the connection and returns the
// packets received until then.
func (c *rawClient) expectClosed() []packets.Packet {
	c.t.Helper()
	var seen []packets.Packet
	timer := time.NewTimer(waitBound)
	defer timer.Stop()
	for {
		select {
		case p, ok := <-c.in:
			if !ok {
				return seen
			}
			seen = append(seen, p)
		case <-timer.C:
			c.t.Fatalf("connection not closed within %v", waitBound)
		}
	}
}

func (c *rawClient) readLoop() {
	defer close(c.done)
	defer close(c.in)
	r := bufio.NewReader(c.conn)
	for {
		b, err := r.ReadByte()
		if err != nil {
			return
		}
		var fh packets.FixedHeader
		if err := fh.Decode(b); err != nil {
			return
		}
		n, _, err := packets.DecodeLength(r)
		if err != nil {
			return
		}
		fh.Remaining = n
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		pk := packets.Packet{FixedHeader: fh, ProtocolVersion: c.v}
		switch fh.Type {
		case packets.Connack:
			err = pk.ConnackDecode(body)
		case packets.Publish:
			err = pk.PublishDecode(body)
			if err == nil && pk.FixedHeader.Qos > 0 {
				c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
			}
		case packets.Puback:
			err = pk.PubackDecode(body)
		case packets.Suback:
			err = pk.SubackDecode(body)
		case packets.Disconnect:
			err = pk.DisconnectDecode(body)
		}
		if err != nil {
			return
		}
		c.in <- pk
	}
}
