package modbusproto

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"
)

// TestServeASCII serves Modbus ASCII on a line: noise, a frame with a wrong LRC, one cut short by a new ':', a
// write to another unit and a broadcast write (served, register 5) get no answer; the first answer the master reads is the one to its
// read request (sent in lower-case hex), in upper-case hex, and it shows none of the writes. A request split
// across reads is answered too.
func TestServeASCII(t *testing.T) {
	srv, m := newTestServer(t, 1)
	m.broadcast = true
	m.SetRegisters(1, HoldingRegisters, 0, []uint16{0x1234, 0})
	line, master := net.Pipe()
	run(t, func(ctx context.Context) error { return srv.ServeASCII(ctx, pipeLine{line}) },
		func() { master.Close(); line.Close() })
	_ = master.SetDeadline(time.Now().Add(hangGuard))
	badLRC := EncodeASCII(1, pdu(6, 0, 0, 0xAA, 0xAA))
	badLRC[len(badLRC)-3] ^= 1
	cut := EncodeASCII(1, pdu(6, 0, 0, 0xBB, 0xBB))
	var in []byte
	for _, f := range [][]byte{[]byte("noise\r\n"), badLRC, EncodeASCII(2, pdu(6, 0, 0, 0xCC, 0xCC)),
		EncodeASCII(0, pdu(6, 0, 5, 0xDD, 0xDD)), cut[:9], bytes.ToLower(EncodeASCII(1, pdu(3, 0, 0, 0, 1)))} {
		in = append(in, f...)
	}
	if _, err := master.Write(in); err != nil {
		t.Fatal(err)
	}
	want := EncodeASCII(1, pdu(3, 2, 0x12, 0x34))
	if got := readRTU(t, master, want); !bytes.Equal(got, want) {
		t.Errorf("first answer %q, want %q", got, want)
	}
	req := EncodeASCII(1, pdu(3, 0, 1, 0, 1))
	for _, part := range [][]byte{req[:5], req[5:]} {
		if _, err := master.Write(part); err != nil {
			t.Fatal(err)
		}
	}
	if want := EncodeASCII(1, pdu(3, 2, 0, 0)); !bytes.Equal(readRTU(t, master, want), want) {
		t.Errorf("a request in two parts not answered")
	}
	if got := m.Registers(0, HoldingRegisters, 5, 1); got[0] != 0xDDDD {
		t.Errorf("broadcast write not served: register 5 holds %#x", got[0])
	}
}

// FuzzScanASCII scans bytes the way ServeASCII does: each frame found runs from ':' to LF with no other ':' and
// fits MaxASCIIFrame; what is finally kept for more characters starts with ':', holds no ':' or LF after it and
// is shorter than MaxASCIIFrame, so the buffer stays bounded.
func FuzzScanASCII(f *testing.F) {
	f.Add(EncodeASCII(1, pdu(3, 0, 0, 0, 1)))
	f.Add([]byte("xx:0103:01030000000AF2\r\n:01"))
	f.Add(bytes.Repeat([]byte{':', '0'}, MaxASCIIFrame))
	f.Add(bytes.Repeat([]byte{'0'}, 2*MaxASCIIFrame))
	f.Fuzz(func(t *testing.T, b []byte) {
		for {
			skip, n := ScanASCII(b)
			if skip < 0 || n < 0 || skip+n > len(b) {
				t.Fatalf("skip %d n %d of %d", skip, n, len(b))
			}
			b = b[skip:]
			if n == 0 && skip == 0 {
				break
			}
			if n == 0 {
				continue
			}
			if fr := b[:n]; fr[0] != ':' || fr[n-1] != '\n' || n > MaxASCIIFrame || bytes.IndexByte(fr[1:], ':') >= 0 {
				t.Fatalf("frame %q", fr)
			}
			b = b[n:]
		}
		if len(b) > 0 && (b[0] != ':' || len(b) >= MaxASCIIFrame || bytes.ContainsAny(b[1:], ":\n")) {
			t.Fatalf("kept %q", b)
		}
	})
}
