package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	tbgateway "github.com/tbgateway/tbgateway"
)

// readChunk is how much of a segment one read takes at most (more when a single record is bigger).
const readChunk = 256 << 10

// reader is Next's position in the log: a segment and the offset of its next frame.
type reader struct {
	seg *segment
	f   *os.File
	off int64
	buf []byte
}

func (r *reader) close() {
	if r.f != nil {
		_ = r.f.Close()
	}
	*r = reader{buf: r.buf}
}

// frame is a record read from disk, not yet decoded; payload points into the reader's buffer.
type frame struct {
	seq     uint64
	payload []byte
}

// Next hands out up to limit records (at least one) not yet handed out, oldest first. It blocks until one is
// committed, ctx is done or the store is closed.
func (s *Store) Next(ctx context.Context, limit int) ([]tbgateway.Entry, error) {
	limit = max(limit, 1)
	for {
		s.mu.Lock()
		if s.isClosed() {
			s.mu.Unlock()
			return nil, fmt.Errorf("file storage: next: %w", tbgateway.ErrStorageClosed)
		}
		wake := s.wake
		s.mu.Unlock()
		s.rmu.Lock()
		es, err := s.readBatch(limit)
		s.rmu.Unlock()
		if err != nil || len(es) > 0 {
			return es, err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.closed:
		}
	}
}

// Rewind makes every handed-out, unacknowledged record available to Next again, first and in order: the reader
// goes back to the oldest segment holding an unacknowledged record and skips acknowledged ones.
func (s *Store) Rewind() {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.mu.Lock()
	s.redeliv = max(s.redeliv, s.handed+1)
	s.endLane()
	s.mu.Unlock()
	s.rd.close()
}

// readBatch reads up to limit committed records at the reader's position that are neither acknowledged nor
// dropped. Callers hold rmu.
func (s *Store) readBatch(limit int) ([]tbgateway.Entry, error) {
	var out []tbgateway.Entry
	for len(out) < limit {
		frames, err := s.readFrames(limit - len(out))
		if err != nil || len(frames) == 0 {
			return out, err
		}
		out = s.handOut(out, frames)
	}
	return out, nil
}

// readFrames reads up to limit frames from the reader's position, moving to the next segment at the end of a
// sealed one. It returns no frames when nothing more is committed.
func (s *Store) readFrames(limit int) ([]frame, error) {
	rd := &s.rd
	for {
		s.mu.Lock()
		if rd.seg == nil {
			rd.seg = s.firstUnacked()
		}
		g := rd.seg
		var end int64
		var next *segment
		if g != nil {
			end = g.size
			if g.sealed {
				next = s.segAfter(g)
			}
		}
		s.mu.Unlock()
		if g == nil {
			return nil, nil
		}
		if rd.off >= end {
			if next == nil {
				return nil, nil
			}
			rd.close()
			rd.seg = next
			continue
		}
		if rd.f == nil {
			f, err := os.Open(g.path)
			if errors.Is(err, os.ErrNotExist) && s.deleted(g) {
				rd.close() // acknowledged and deleted meanwhile: start again from the oldest unacknowledged
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("file storage: read segment: %w", err)
			}
			rd.f = f
		}
		return s.parseChunk(limit, end)
	}
}

// parseChunk reads the frames from the reader's offset up to end (at most readChunk bytes, or one frame).
func (s *Store) parseChunk(limit int, end int64) ([]frame, error) {
	rd := &s.rd
	want := min(end-rd.off, readChunk)
	for {
		if int64(cap(rd.buf)) < want {
			rd.buf = make([]byte, want)
		}
		b := rd.buf[:want]
		if _, err := rd.f.ReadAt(b, rd.off); err != nil {
			return nil, fmt.Errorf("file storage: read segment %s at %d: %w", rd.seg.path, rd.off, err)
		}
		var frames []frame
		off := 0
		for len(frames) < limit {
			seq, payload, n, err := parseFrame(b[off:])
			if errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			if err != nil {
				return s.damagedAfterOpen(frames, off)
			}
			frames = append(frames, frame{seq: seq, payload: payload})
			off += n
		}
		if len(frames) > 0 {
			rd.off += int64(off)
			return frames, nil
		}
		// The first frame is bigger than the chunk: read all of it.
		if len(b) >= frameHeader {
			want = min(end-rd.off, frameHeader+int64(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24))
		}
		if want <= int64(len(b)) {
			return s.damagedAfterOpen(nil, 0)
		}
	}
}

// damagedAfterOpen handles synced bytes that no longer check out (the disk changed under us): the rest of the
// segment is skipped, reported and counted, like damage found by Open.
func (s *Store) damagedAfterOpen(frames []frame, off int) ([]frame, error) {
	rd := &s.rd
	s.mu.Lock()
	end := rd.seg.size
	s.fstats.Corrupt++
	s.mu.Unlock()
	s.log.Error("file storage: segment damaged on disk; skipping the rest of it", "segment", rd.seg.path,
		"offset", rd.off+int64(off), "skipped_bytes", end-rd.off-int64(off))
	rd.off = end
	return frames, nil
}

// deleted reports whether g is no longer in the segment list.
func (s *Store) deleted(g *segment) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.segs {
		if h == g {
			return false
		}
	}
	return true
}

// firstUnacked is the first segment holding an unacknowledged record, or nil. Callers hold mu.
func (s *Store) firstUnacked() *segment {
	for _, g := range s.segs {
		if !g.empty() && g.last > s.prefix {
			return g
		}
	}
	return nil
}

// handOut decodes the frames that are neither acknowledged nor dropped and appends them to out, counting the
// ones handed out before.
func (s *Store) handOut(out []tbgateway.Entry, frames []frame) []tbgateway.Entry {
	s.mu.Lock()
	keep := frames[:0]
	for _, f := range frames {
		if _, a := s.acked[f.seq]; a || f.seq <= s.prefix {
			continue
		}
		skip, again, lane := s.skipLive(f.seq)
		if skip {
			continue
		}
		if again || (!lane && f.seq < s.redeliv) {
			s.stats.Redelivered++
		}
		if f.seq > s.handed {
			s.handed = f.seq
			s.dirty++
		}
		keep = append(keep, f)
	}
	s.mu.Unlock()
	for _, f := range keep {
		var r tbgateway.Record
		if err := r.UnmarshalBinary(f.payload); err != nil {
			// The CRC matched, so the bytes are what was written: a record of a format this build cannot read.
			s.log.Error("file storage: undecodable record skipped", "seq", f.seq, "err", err)
			s.mu.Lock()
			s.fstats.Corrupt++
			s.mu.Unlock()
			_ = s.Ack(f.seq)
			continue
		}
		out = append(out, tbgateway.Entry{Seq: f.seq, Record: r})
	}
	return out
}
