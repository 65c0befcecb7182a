package file

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

// validSeqs walks data frame by frame, independently of the package's parser, and returns the sequence numbers
// of the leading frames whose CRC matches.
func validSeqs(data []byte) map[uint64]bool {
	ok := map[uint64]bool{}
	for off := 0; off+16 <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		if n > len(data)-off-16 {
			break
		}
		if crc32.Checksum(data[off+8:off+16+n], crc32.MakeTable(crc32.Castagnoli)) != binary.LittleEndian.Uint32(data[off+4:]) {
			break
		}
		ok[binary.LittleEndian.Uint64(data[off+8:])] = true
		off += 16 + n
	}
	return ok
}

// FuzzSegmentReader opens a store whose only segment holds arbitrary bytes: Open repairs instead of failing,
// nothing panics, and every record handed out comes from a frame with a valid CRC.
func FuzzSegmentReader(f *testing.F) {
	var seg []byte
	for n := range 3 {
		r := rec(n)
		start := len(seg)
		seg = appendFrame(seg, r.AppendBinary(nil))
		sealFrame(seg[start:], uint64(1+n))
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	bad := append([]byte(nil), seg...)
	bad[20] ^= 1
	f.Add(bad)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(Options{Dir: dir}, quiet)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer closeT(t, s)
		valid := validSeqs(data)
		var es []tbgateway.Entry
		for _, e := range drainEntries(t, s) {
			if !valid[e.Seq] {
				t.Fatalf("record %d handed out without a valid frame", e.Seq)
			}
			es = append(es, e)
		}
		if st := s.Stats(); st.Count < len(es) {
			t.Fatalf("Count %d below the %d records handed out", st.Count, len(es))
		}
	})
}
