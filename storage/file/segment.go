package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	segPrefix = "tbgw-"
	segSuffix = ".seg"
	// frameHeader is [u32 length][u32 crc][u64 seq]; the CRC covers the seq and the payload.
	frameHeader = 16
	// maxPayload bounds a frame's length field, so a corrupt length is recognised as such.
	maxPayload = 64 << 20
	// maxSeq bounds a plausible sequence number (centuries at millions of records per second), so that a
	// crafted or damaged frame cannot bring the counter near overflow.
	maxSeq = 1 << 62
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segment is one log file. Its records have the consecutive sequence numbers first..last (last = first-1 when
// it is empty). size is the length of its valid, synced content; nothing past it is ever read.
type segment struct {
	path   string
	first  uint64
	last   uint64
	size   int64
	sealed bool // no more appends: the writer moved on, or the file predates this process
}

func (g *segment) empty() bool { return g.last < g.first }

func segmentName(first uint64) string { return fmt.Sprintf("%s%020d%s", segPrefix, first, segSuffix) }

// parseSegmentName returns the first sequence number a segment file name carries.
func parseSegmentName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 64)
	return n, err == nil && n > 0 && n <= maxSeq
}

// appendFrame appends a frame with a zero sequence number and CRC; sealFrame fills them in once the sequence
// number is known.
func appendFrame(b []byte, payload []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, make([]byte, 12)...)
	return append(b, payload...)
}

// sealFrame sets the sequence number and CRC of the frame at the start of b and returns the frame's length.
func sealFrame(b []byte, seq uint64) int {
	n := int(binary.LittleEndian.Uint32(b))
	binary.LittleEndian.PutUint64(b[8:], seq)
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[8:frameHeader+n], castagnoli))
	return frameHeader + n
}

// errBadFrame marks a frame that cannot be trusted: impossible length or CRC mismatch.
var errBadFrame = errors.New("bad frame")

// parseFrame decodes the frame at the start of b. It returns io.ErrUnexpectedEOF when b holds only part of a
// frame, and errBadFrame for a frame that fails its checks.
func parseFrame(b []byte) (seq uint64, payload []byte, n int, err error) {
	if len(b) < frameHeader {
		return 0, nil, 0, io.ErrUnexpectedEOF
	}
	plen := binary.LittleEndian.Uint32(b)
	if plen > maxPayload {
		return 0, nil, 0, errBadFrame
	}
	n = frameHeader + int(plen)
	if len(b) < n {
		return 0, nil, 0, io.ErrUnexpectedEOF
	}
	if crc32.Checksum(b[8:n], castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return 0, nil, 0, errBadFrame
	}
	return binary.LittleEndian.Uint64(b[8:]), b[frameHeader:n], n, nil
}

// scanResult is what scanning a segment's bytes found.
type scanResult struct {
	first, last uint64 // sequence numbers of the valid prefix (last = first-1 when empty)
	valid       int64  // length of the valid prefix
	damaged     bool   // bytes follow the valid prefix
	reason      string // why the valid prefix ends, when damaged
}

// scanSegment checks the frames of data, whose file name says its first sequence number is nameFirst. A frame
// that fails its checks, is cut short or does not carry the next sequence number ends the valid prefix.
func scanSegment(data []byte, nameFirst uint64) scanResult {
	r := scanResult{first: nameFirst, last: nameFirst - 1}
	for off := 0; off < len(data); {
		seq, _, n, err := parseFrame(data[off:])
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			r.reason = "record cut short"
		case err != nil:
			r.reason = "bad length or CRC"
		case seq > maxSeq:
			r.reason = "implausible sequence number"
		case off == 0 && seq < nameFirst:
			r.reason = "sequence number below the file name's"
		case off > 0 && seq != r.last+1:
			r.reason = "sequence number out of order"
		}
		if r.reason != "" {
			r.damaged = true
			return r
		}
		if off == 0 {
			r.first = seq
		}
		r.last = seq
		off += n
		r.valid = int64(off)
	}
	return r
}

// listSegments returns the segment files of dir ordered by their first sequence number.
func listSegments(dir string) ([]*segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var segs []*segment
	for _, e := range ents {
		if first, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			segs = append(segs, &segment{path: filepath.Join(dir, e.Name()), first: first, last: first - 1, sealed: true})
		}
	}
	slices.SortFunc(segs, func(a, b *segment) int { return cmpUint(a.first, b.first) })
	return segs, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// syncDir makes a directory's entries (created, renamed, removed files) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
