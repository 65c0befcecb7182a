package modbusproto

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"
)

// serveTCP runs serve on a loopback TCP listener until the test ends and returns a connection to it.
func serveTCP(t *testing.T, serve func(context.Context, net.Listener) error) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	run(t, func(ctx context.Context) error { return serve(ctx, ln) })
	return dialTest(t, "tcp", ln.Addr().String())
}

// serveUDP runs serve on a loopback UDP socket until the test ends and returns a socket connected to it.
func serveUDP(t *testing.T, serve func(context.Context, net.PacketConn) error) net.Conn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	run(t, func(ctx context.Context) error { return serve(ctx, pc) })
	return dialTest(t, "udp", pc.LocalAddr().String())
}

func dialTest(t *testing.T, network, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(hangGuard))
	return c
}

// TestServeStreamRTU serves RTU framing over TCP: a request with a bad CRC, one for another unit, a broadcast
// write (served, register 5) and garbage get no answer; two requests in one segment are answered in order, a
// request sent byte by byte is answered, and none of the dropped writes shows.
func TestServeStreamRTU(t *testing.T) {
	srv, m := newTestServer(t, 1)
	m.broadcast = true
	m.SetRegisters(1, HoldingRegisters, 0, []uint16{7, 8})
	c := serveTCP(t, srv.ServeStreamRTU)
	badCRC := rtuFrame(1, pdu(6, 0, 0, 0xAA, 0xAA))
	badCRC[len(badCRC)-1] ^= 0xFF
	var dropped []byte
	for _, f := range [][]byte{badCRC, rtuFrame(2, pdu(6, 0, 0, 0xBB, 0xBB)), rtuFrame(0, pdu(6, 0, 5, 0xCC, 0xCC)), {0xde, 0xad}} {
		dropped = append(dropped, f...)
	}
	read0, read1 := rtuFrame(1, pdu(3, 0, 0, 0, 1)), rtuFrame(1, pdu(3, 0, 1, 0, 1))
	if _, err := c.Write(append(append(dropped, read0...), read1...)); err != nil {
		t.Fatal(err)
	}
	want := append(rtuFrame(1, pdu(3, 2, 0, 7)), rtuFrame(1, pdu(3, 2, 0, 8))...)
	if got := readRTU(t, c, want); !bytes.Equal(got, want) {
		t.Errorf("answers % X, want % X", got, want)
	}
	for _, b := range read1 {
		if _, err := c.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	if want := rtuFrame(1, pdu(3, 2, 0, 8)); !bytes.Equal(readRTU(t, c, want), want) {
		t.Errorf("a request byte by byte not answered")
	}
	if got := m.Registers(0, HoldingRegisters, 5, 1); got[0] != 0xCCCC {
		t.Errorf("broadcast write not served: register 5 holds %#x", got[0])
	}
}

// TestServeStreamRTUIdle: an RTU connection that sends nothing for IdleTimeout is closed.
func TestServeStreamRTUIdle(t *testing.T) {
	srv, _ := newTestServer(t, 1)
	srv.IdleTimeout = time.Millisecond
	c := serveTCP(t, srv.ServeStreamRTU)
	if n, err := c.Read(make([]byte, 1)); !closedByPeer(err) {
		t.Errorf("idle client: read %d, %v; want it closed", n, err)
	}
}

// TestServePacketRTU serves RTU framing over UDP: garbage, a bad CRC, another station's response, a frame with
// bytes after it, a request for another unit and a broadcast (served) get no answer; the next request is
// answered to its sender as one RTU frame.
func TestServePacketRTU(t *testing.T) {
	srv, m := newTestServer(t, 1)
	m.broadcast = true
	m.SetRegisters(1, HoldingRegisters, 0, []uint16{42})
	c := serveUDP(t, srv.ServePacketRTU)
	badCRC := rtuFrame(1, pdu(6, 0, 0, 0xAA, 0xAA))
	badCRC[len(badCRC)-2] ^= 0xFF
	for _, dgram := range [][]byte{{0xde, 0xad}, badCRC, rtuFrame(1, pdu(3, 2, 0, 1)), append(rtuFrame(1, pdu(6, 0, 0, 0, 1)), 0),
		rtuFrame(2, pdu(6, 0, 0, 0, 2)), rtuFrame(0, pdu(6, 0, 5, 0, 3)), rtuFrame(1, pdu(3, 0, 0, 0, 1))} {
		if _, err := c.Write(dgram); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if want := rtuFrame(1, pdu(3, 2, 0, 42)); !bytes.Equal(buf[:n], want) {
		t.Errorf("first answer % X, want % X", buf[:n], want)
	}
}

// FuzzParseRTUDatagram: a datagram accepted is exactly one frame with a valid CRC.
func FuzzParseRTUDatagram(f *testing.F) {
	f.Add(rtuFrame(1, pdu(3, 0, 0, 0, 1)))
	f.Add(rtuFrame(1, pdu(0x41, 1, 2, 3)))
	f.Add(append(rtuFrame(1, pdu(3, 0, 0, 0, 1)), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		frame, err := ParseRTUDatagram(b)
		if err == nil && (len(frame) != len(b) || !crcOK(frame)) {
			t.Fatalf("% X accepted as % X", b, frame)
		}
	})
}
