package serial

import (
	"bytes"
	"fmt"
)

// framer splits the bytes read from a port into lines, each ending with the delimiter (kept). It holds at most
// max bytes of an unfinished line: bytes beyond that are dropped up to the next delimiter and reported once.
type framer struct {
	delim []byte
	max   int
	buf   []byte
	// skipping is set while the rest of an overlong line is dropped.
	skipping bool
}

func newFramer(delim []byte, max int) *framer { return &framer{delim: delim, max: max} }

// push adds bytes read from the port and calls line for every finished line (the slice is only valid during
// the call) and overlong once for every line longer than max.
func (f *framer) push(p []byte, line func([]byte), overlong func(error)) {
	f.buf = append(f.buf, p...)
	start := 0
	for {
		i := bytes.Index(f.buf[start:], f.delim)
		if i < 0 {
			break
		}
		end := start + i + len(f.delim)
		switch {
		case f.skipping:
			f.skipping = false
		case end-start > f.max:
			overlong(fmt.Errorf("line of %d bytes is longer than %d, dropped", end-start, f.max))
		default:
			line(f.buf[start:end])
		}
		start = end
	}
	rest := f.buf[start:]
	if len(rest) > f.max {
		if !f.skipping {
			overlong(fmt.Errorf("more than %d bytes without a delimiter, dropped up to the next one", f.max))
			f.skipping = true
		}
		// keep only what may begin a delimiter split across reads
		rest = rest[len(rest)-len(f.delim)+1:]
	}
	f.buf = append(f.buf[:0], rest...)
}

// flush returns the unfinished line and forgets it (nil when there is none, or the rest of an overlong line).
func (f *framer) flush() []byte {
	if len(f.buf) == 0 || f.skipping {
		f.buf, f.skipping = f.buf[:0], false
		return nil
	}
	out := bytes.Clone(f.buf)
	f.buf = f.buf[:0]
	return out
}
