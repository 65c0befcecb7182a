package modbusproto

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hangGuard bounds a test's wait for an answer; it only guards against hangs.
const hangGuard = 10 * time.Second

// memModel is a DataModel for one unit id.
type memModel struct {
	mu   sync.Mutex
	unit uint8
	// broadcast serves unit 0 (the broadcast address) as well, on the same tables; set before serving
	broadcast bool
	bits      [2][65536]bool
	regs      [2][65536]uint16
}

func (m *memModel) Serves(u uint8) bool { return u == m.unit || (u == 0 && m.broadcast) }

func (m *memModel) Bits(_ uint8, t Table, addr uint16, n int) []bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]bool(nil), m.bits[t-1][addr:int(addr)+n]...)
}

func (m *memModel) SetBits(_ uint8, t Table, addr uint16, v []bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	copy(m.bits[t-1][addr:], v)
}

func (m *memModel) Registers(_ uint8, t Table, addr uint16, n int) []uint16 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]uint16(nil), m.regs[t-3][addr:int(addr)+n]...)
}

func (m *memModel) SetRegisters(_ uint8, t Table, addr uint16, v []uint16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	copy(m.regs[t-3][addr:], v)
}

func newTestServer(t *testing.T, unit uint8) (*Server, *memModel) {
	m := &memModel{unit: unit}
	id, err := NewDeviceID(sampleIdentity)
	if err != nil {
		t.Fatal(err)
	}
	return &Server{Handler: DataHandler{Data: m, Identity: id}}, m
}

// run serves in a goroutine until the test ends, and checks the serve method returned nil. At the end it
// cancels serve's context, then calls unblock (which may close what serve is blocked on), then waits.
func run(t *testing.T, serve func(ctx context.Context) error, unblock ...func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		for _, f := range unblock {
			f()
		}
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
}

func pdu(fn byte, data ...byte) PDU { return PDU{Function: fn, Data: data} }

// exchangeMBAP writes an MBAP request on a stream and reads the answer.
func exchangeMBAP(t *testing.T, c net.Conn, txn uint16, unit uint8, req PDU) MBAPFrame {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(hangGuard))
	if _, err := c.Write(AppendMBAP(nil, txn, unit, req)); err != nil {
		t.Fatal(err)
	}
	f, err := ReadMBAP(c, make([]byte, MaxMBAPFrame))
	if err != nil {
		t.Fatalf("answer to % X: %v", req.Bytes(), err)
	}
	if f.Transaction != txn || f.Unit != unit {
		t.Fatalf("answer to transaction %d unit %d came as transaction %d unit %d", txn, unit, f.Transaction, f.Unit)
	}
	return f
}

// TestServeStreamRequests serves Modbus TCP: writes and reads of every table, device identification, an
// exception for an address past the end, and "gateway target failed to respond" for a unit not served.
func TestServeStreamRequests(t *testing.T) {
	srv, m := newTestServer(t, 7)
	c := serveTCP(t, srv.ServeStream)
	m.SetRegisters(7, InputRegisters, 9, []uint16{0xBEEF})
	m.SetBits(7, DiscreteInputs, 3, []bool{true})
	cases := []struct {
		unit      uint8
		req, want PDU
	}{
		{7, pdu(16, 0, 10, 0, 2, 4, 0x12, 0x34, 0x56, 0x78), pdu(16, 0, 10, 0, 2)},
		{7, pdu(3, 0, 10, 0, 2), pdu(3, 4, 0x12, 0x34, 0x56, 0x78)},
		{7, pdu(6, 0, 11, 0xAB, 0xCD), pdu(6, 0, 11, 0xAB, 0xCD)},
		{7, pdu(3, 0, 11, 0, 1), pdu(3, 2, 0xAB, 0xCD)},
		{7, pdu(4, 0, 9, 0, 1), pdu(4, 2, 0xBE, 0xEF)},
		{7, pdu(15, 0, 1, 0, 10, 2, 0b1000_0101, 0b10), pdu(15, 0, 1, 0, 10)},
		{7, pdu(1, 0, 0, 0, 11), pdu(1, 2, 0b0000_1010, 0b0000_0101)},
		{7, pdu(5, 0, 0, 0xFF, 0), pdu(5, 0, 0, 0xFF, 0)},
		{7, pdu(1, 0, 0, 0, 1), pdu(1, 1, 1)},
		{7, pdu(2, 0, 3, 0, 1), pdu(2, 1, 1)},
		{7, pdu(3, 0xFF, 0xFF, 0, 2), ExceptionPDU(3, IllegalDataAddress)},
		{7, pdu(3, 0, 0, 0, 126), ExceptionPDU(3, IllegalDataValue)},
		{7, pdu(5, 0, 0, 0x12, 0), ExceptionPDU(5, IllegalDataValue)},
		{7, pdu(16, 0, 0, 0, 2, 3, 1, 2, 3), ExceptionPDU(16, IllegalDataValue)},
		{7, pdu(0x41), ExceptionPDU(0x41, IllegalFunction)},
		{7, pdu(0x2B, 0x0E, 4, 5), pdu(0x2B, 0x0E, 4, 0x82, 0, 0, 1, 5, 2, 'G', 'o')},
		{8, pdu(3, 0, 0, 0, 1), ExceptionPDU(3, GatewayTargetDeviceFailedToRespond)},
	}
	for i, tc := range cases {
		f := exchangeMBAP(t, c, uint16(100+i), tc.unit, tc.req)
		if !bytes.Equal(f.PDU.Bytes(), tc.want.Bytes()) {
			t.Errorf("unit %d % X: answered % X, want % X", tc.unit, tc.req.Bytes(), f.PDU.Bytes(), tc.want.Bytes())
		}
	}
}

// TestServeStreamBounds: a client past MaxClients is closed at once while the others are served; a frame
// whose length field is out of range closes its connection; an idle connection is closed after IdleTimeout;
// the server keeps serving after each.
func TestServeStreamBounds(t *testing.T) {
	srv, _ := newTestServer(t, 1)
	srv.MaxClients, srv.IdleTimeout = 1, 50*time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	run(t, func(ctx context.Context) error { return srv.ServeStream(ctx, ln) })
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(hangGuard))
		return c
	}
	first := dial()
	exchangeMBAP(t, first, 1, 1, pdu(3, 0, 0, 0, 1))
	second := dial()
	if n, err := second.Read(make([]byte, 1)); !closedByPeer(err) {
		t.Errorf("second client over MaxClients 1: read %d, %v; want it closed", n, err)
	}
	// the first client idles past IdleTimeout: closed, which frees its slot
	if n, err := first.Read(make([]byte, 1)); !closedByPeer(err) {
		t.Errorf("idle client: read %d, %v; want it closed", n, err)
	}
	bad := dial()
	if _, err := bad.Write([]byte{0, 1, 0, 0, 0xFF, 0xFF, 1, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Read(make([]byte, 1)); !closedByPeer(err) {
		t.Errorf("frame of length 65535: %v; want the connection closed", err)
	}
	exchangeMBAP(t, dial(), 2, 1, pdu(3, 0, 0, 0, 1))
}

// TestServePacket serves Modbus over UDP: a garbage datagram and one with another protocol id get no answer,
// the next request is answered to its sender.
func TestServePacket(t *testing.T) {
	srv, m := newTestServer(t, 1)
	m.SetRegisters(1, HoldingRegisters, 0, []uint16{42})
	c := serveUDP(t, srv.ServePacket)
	other := AppendMBAP(nil, 1, 1, pdu(3, 0, 0, 0, 1))
	other[3] = 1 // protocol id 1
	for _, dgram := range [][]byte{{0xde, 0xad}, other, AppendMBAP(nil, 2, 1, pdu(3, 0, 0, 0, 1))} {
		if _, err := c.Write(dgram); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseMBAP(buf[:n])
	if err != nil || f.Transaction != 2 || !bytes.Equal(f.PDU.Bytes(), []byte{3, 2, 0, 42}) {
		t.Errorf("first answer % X (%v), want transaction 2 reading 42", buf[:n], err)
	}
}

// FuzzParseMBAP: any datagram is refused or decodes to a frame that encodes back to the same bytes.
func FuzzParseMBAP(f *testing.F) {
	f.Add(AppendMBAP(nil, 1, 1, pdu(3, 0, 0, 0, 1)))
	f.Add([]byte{0, 0, 0, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseMBAP(b)
		if err != nil {
			return
		}
		if again := AppendMBAP(nil, fr.Transaction, fr.Unit, fr.PDU); !bytes.Equal(again, b) {
			t.Fatalf("% X decoded and encoded as % X", b, again)
		}
	})
}

// FuzzDataHandler: any request PDU gets a response that fits in a PDU and is either the request's function or
// its exception; nothing panics.
func FuzzDataHandler(f *testing.F) {
	f.Add(byte(3), []byte{0, 0, 0, 1})
	f.Add(byte(16), []byte{0, 0, 0, 1, 2, 0, 1})
	f.Add(byte(15), []byte{0, 0, 0, 9, 2, 0xFF, 1})
	f.Add(byte(43), []byte{14, 1, 0})
	m := &memModel{unit: 1}
	id, _ := NewDeviceID(sampleIdentity)
	h := DataHandler{Data: m, Identity: id}
	f.Fuzz(func(t *testing.T, fn byte, data []byte) {
		if len(data) > MaxPDUSize-1 {
			return
		}
		resp, ok := h.ServeModbus(1, PDU{Function: fn, Data: data})
		if !ok || len(resp.Bytes()) > MaxPDUSize || resp.Function&0x7F != fn&0x7F {
			t.Fatalf("% X answered % X (%v)", append([]byte{fn}, data...), resp.Bytes(), ok)
		}
	})
}

// closedByPeer says a read failed because the other side closed the connection.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}
