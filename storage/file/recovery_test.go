package file

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// logBuffer returns a logger writing into a buffer, to check what the store reported.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

// segFiles returns the segment files of dir in order.
func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "tbgw-*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// frameOffsets returns the offsets at which the frames of a segment file start.
func frameOffsets(t *testing.T, path string) []int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int
	for off := 0; off < len(data); {
		_, _, n, err := parseFrame(data[off:])
		if err != nil {
			t.Fatalf("%s at %d: %v", path, off, err)
		}
		offs = append(offs, off)
		off += n
	}
	return offs
}

// writeTen stores records 0..9 in a new store in dir and closes it.
func writeTen(t *testing.T, dir string) {
	t.Helper()
	s := openT(t, Options{Dir: dir})
	for n := range 10 {
		mustPut(t, s, rec(n))
	}
	closeT(t, s)
}

func TestTornTailRepaired(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, last int, data []byte) []byte
	}{
		{"cut mid-record", func(t *testing.T, path string, last int, data []byte) []byte { return data[:last+frameHeader+3] }},
		{"cut mid-header", func(t *testing.T, path string, last int, data []byte) []byte { return data[:last+5] }},
		{"payload byte flipped", func(t *testing.T, path string, last int, data []byte) []byte {
			data[len(data)-1] ^= 0x40
			return data
		}},
		{"CRC byte flipped", func(t *testing.T, path string, last int, data []byte) []byte {
			data[last+5] ^= 0x01
			return data
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTen(t, dir)
			path := segFiles(t, dir)[0]
			offs := frameOffsets(t, path)
			data, _ := os.ReadFile(path)
			if err := os.WriteFile(path, tc.damage(t, path, offs[9], data), 0o644); err != nil {
				t.Fatal(err)
			}
			log, buf := logBuffer()
			s, err := Open(Options{Dir: dir}, log)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer closeT(t, s)
			if fs := s.FileStats(); fs.TornTails != 1 {
				t.Fatalf("FileStats = %+v, want TornTails 1", fs)
			}
			if !strings.Contains(buf.String(), "torn tail repaired") {
				t.Fatalf("repair not logged; log:\n%s", buf)
			}
			if fi, _ := os.Stat(path); fi.Size() != int64(offs[9]) {
				t.Fatalf("segment is %d bytes after repair, want %d", fi.Size(), offs[9])
			}
			nums, _ := drainAll(t, s)
			if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8}; !reflect.DeepEqual(nums, want) {
				t.Fatalf("after repair got %v, want %v", nums, want)
			}
			// New records go on after the repaired tail with fresh sequence numbers.
			mustPut(t, s, rec(10))
			nums, es := drainAll(t, s)
			if !reflect.DeepEqual(nums, []int{10}) || es[0].Seq <= 9 {
				t.Fatalf("after repair and Put got %v (seq %d)", nums, es[0].Seq)
			}
		})
	}
}

// TestCorruptMiddleSegment damages a record in a segment that is not the last: the segment is cut at its last
// valid record, the loss is reported with the number of records lost, and the later segments are delivered.
func TestCorruptMiddleSegment(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir, SegmentBytes: 300})
	for n := range 30 {
		mustPut(t, s, rec(n))
	}
	closeT(t, s)
	files := segFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("want at least 3 segments, have %d", len(files))
	}
	path := files[1]
	offs := frameOffsets(t, path)
	if len(offs) < 2 {
		t.Fatalf("segment %s has %d records, want at least 2", path, len(offs))
	}
	data, _ := os.ReadFile(path)
	data[offs[1]+frameHeader+2] ^= 0xff // damage the second record's payload
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	lost := len(offs) - 1
	log, buf := logBuffer()
	s, err := Open(Options{Dir: dir}, log)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer closeT(t, s)
	fs := s.FileStats()
	if fs.Corrupt != 1 || fs.TornTails != 0 || fs.LostRecords != uint64(lost) {
		t.Fatalf("FileStats = %+v, want Corrupt 1, TornTails 0, LostRecords %d", fs, lost)
	}
	if !strings.Contains(buf.String(), "damaged segment") {
		t.Fatalf("damage not logged; log:\n%s", buf)
	}
	nums, _ := drainAll(t, s)
	first := len(frameOffsets(t, files[0]))
	var want []int
	for n := range 30 {
		if n <= first || n > first+lost {
			want = append(want, n)
		}
	}
	if !reflect.DeepEqual(nums, want) {
		t.Fatalf("got %v, want %v", nums, want)
	}
	if st := s.Stats(); st.Count != len(want) {
		t.Fatalf("Count = %d, want %d", st.Count, len(want))
	}
}

// TestRestartKeepsReadPosition acknowledges part of a multi-segment log out of order, reopens, and checks that
// only unacknowledged records come back and that fully acknowledged segments were deleted.
func TestRestartKeepsReadPosition(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir, SegmentBytes: 300})
	for n := range 40 {
		mustPut(t, s, rec(n))
	}
	_, es := drainAll(t, s)
	var acks []uint64
	for i, e := range es {
		if i < 25 || i == 30 || i == 33 {
			acks = append(acks, e.Seq)
		}
	}
	slices.Reverse(acks)
	if err := s.Ack(acks...); err != nil {
		t.Fatal(err)
	}
	before := len(segFiles(t, dir))
	closeT(t, s)
	if after := len(segFiles(t, dir)); after >= before {
		t.Fatalf("%d segments before Close, %d after: acknowledged segments were not deleted", before, after)
	}
	s = openT(t, Options{Dir: dir, SegmentBytes: 300})
	defer closeT(t, s)
	nums, _ := drainAll(t, s)
	var want []int
	for n := 25; n < 40; n++ {
		if n != 30 && n != 33 {
			want = append(want, n)
		}
	}
	if !reflect.DeepEqual(nums, want) {
		t.Fatalf("after reopen got %v, want %v", nums, want)
	}
	if r := s.Stats().Redelivered; r != uint64(len(want)) {
		t.Fatalf("Redelivered = %d, want %d (all were handed out before Close)", r, len(want))
	}
}
