package modbusproto

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// pipeLine is one end of an in-memory pipe read as a serial line: a read waits at most a short silence.
type pipeLine struct{ net.Conn }

func (p pipeLine) Read(b []byte) (int, error) {
	_ = p.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	return p.Conn.Read(b)
}

func rtuFrame(unit uint8, p PDU) []byte {
	f := append([]byte{unit}, p.Bytes()...)
	return binary.LittleEndian.AppendUint16(f, CRC16(f))
}

// startRTU serves unit 1 on one end of a pipe and returns the other end, a master's.
func startRTU(t *testing.T) (net.Conn, *memModel) {
	srv, m := newTestServer(t, 1)
	line, master := net.Pipe()
	run(t, func(ctx context.Context) error { return srv.ServeRTU(ctx, pipeLine{line}) },
		func() { master.Close(); line.Close() }) // unblocks a server stuck writing to the master
	_ = master.SetDeadline(time.Now().Add(hangGuard))
	return master, m
}

// readRTU reads one answer of len(want) bytes; it stops at the first byte that differs from want.
func readRTU(t *testing.T, c net.Conn, want []byte) []byte {
	t.Helper()
	b := make([]byte, len(want))
	for got := 0; got < len(b); {
		k, err := c.Read(b[got:])
		if err != nil {
			t.Fatalf("answer after % X: %v", b[:got], err)
		}
		got += k
		if !bytes.Equal(b[:got], want[:got]) {
			return b[:got]
		}
	}
	return b
}

// TestServeRTUDropsBadFrames: a write with a bad CRC, a write to another unit, another station's response and
// garbage are not served and not answered, nor is a broadcast (unit 0): the first answer the master reads is
// the one to its read request, and it shows none of those writes.
func TestServeRTUDropsBadFrames(t *testing.T) {
	master, m := startRTU(t)
	m.SetRegisters(1, HoldingRegisters, 4, []uint16{0x1111, 0x2222})
	badCRC := rtuFrame(1, pdu(6, 0, 4, 0xAA, 0xAA))
	badCRC[len(badCRC)-1] ^= 0xFF
	otherResponse := rtuFrame(2, pdu(3, 2, 0x55, 0x55))
	frames := [][]byte{
		badCRC,
		rtuFrame(9, pdu(6, 0, 4, 0xBB, 0xBB)), // another unit
		otherResponse,                         // another station's answer
		{0x00, 0xFF, 0x13},                    // garbage
		rtuFrame(0, pdu(6, 0, 5, 0xCC, 0xCC)), // broadcast: unit 0 is not served here
		rtuFrame(1, pdu(3, 0, 4, 0, 2)),
	}
	go func() { // the pipe has no buffer: the server may answer while frames are still being written
		for _, f := range frames {
			if _, err := master.Write(f); err != nil {
				return // the test failed and closed the pipe
			}
		}
	}()
	want := rtuFrame(1, pdu(3, 4, 0x11, 0x11, 0x22, 0x22))
	if got := readRTU(t, master, want); !bytes.Equal(got, want) {
		t.Errorf("first answer % X, want % X (registers 4 and 5 untouched)", got, want)
	}
}

// TestServeRTUFraming: requests written back to back in one chunk, split byte by byte, or after garbage are
// each answered once, in order; device identification is answered on the line.
func TestServeRTUFraming(t *testing.T) {
	master, m := startRTU(t)
	m.SetRegisters(1, HoldingRegisters, 0, []uint16{7, 8})
	read0, read1 := rtuFrame(1, pdu(3, 0, 0, 0, 1)), rtuFrame(1, pdu(3, 0, 1, 0, 1))
	want0, want1 := rtuFrame(1, pdu(3, 2, 0, 7)), rtuFrame(1, pdu(3, 2, 0, 8))
	if _, err := master.Write(append(append([]byte{}, read0...), read1...)); err != nil {
		t.Fatal(err)
	}
	if both := append(append([]byte{}, want0...), want1...); !bytes.Equal(readRTU(t, master, both), both) {
		t.Errorf("two requests in one chunk not answered in order")
	}
	for _, b := range read1 {
		if _, err := master.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	if got := readRTU(t, master, want1); !bytes.Equal(got, want1) {
		t.Errorf("a request byte by byte: % X", got)
	}
	if _, err := master.Write(append([]byte{0x01, 0x10, 0x00}, read0...)); err != nil {
		t.Fatal(err)
	}
	if got := readRTU(t, master, want0); !bytes.Equal(got, want0) {
		t.Errorf("a request after garbage: % X", got)
	}
	if _, err := master.Write(rtuFrame(1, pdu(0x2B, 0x0E, 4, 0))); err != nil {
		t.Fatal(err)
	}
	want := rtuFrame(1, pdu(0x2B, 0x0E, 4, 0x82, 0, 0, 1, 0, 11, 'T', 'h', 'i', 'n', 'g', 's', 'B', 'o', 'a', 'r', 'd'))
	if got := readRTU(t, master, want); !bytes.Equal(got, want) {
		t.Errorf("device identification: % X, want % X", got, want)
	}
}

// FuzzScanRTU: whatever the bytes, a frame found has a valid CRC and fits the buffer, and the scan never asks
// for more bytes once the buffer holds a whole frame's worth or the line is silent.
func FuzzScanRTU(f *testing.F) {
	f.Add(rtuFrame(1, pdu(3, 0, 0, 0, 1)), false)
	f.Add(rtuFrame(1, pdu(16, 0, 0, 0, 1, 2, 0, 1)), true)
	f.Add([]byte{1, 0x10, 0, 0, 0, 1, 200}, false)
	f.Add(rtuFrame(1, pdu(0x41, 1, 2)), true)
	f.Fuzz(func(t *testing.T, b []byte, silence bool) {
		n, _, need := ScanRTU(b, silence)
		if need && (silence || len(b) >= MaxRTUFrame) {
			t.Fatalf("asks for more after silence or %d bytes", len(b))
		}
		if n > 0 && (n > len(b) || !crcOK(b[:n])) {
			t.Fatalf("frame of %d bytes in % X", n, b)
		}
	})
}
