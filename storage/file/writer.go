package file

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// putReq is one Put waiting for the writer: its encoded frames (sequence numbers and CRCs not yet set).
type putReq struct {
	buf  []byte
	n    int
	recs []tbgateway.Record // the records, for the live lane (the Put waits, so the caller leaves them alone)
	done chan error
}

// writeLoop is the single writer: it takes every queued Put at once (group commit), writes them with one write
// and one fsync per segment touched, and then answers them. It exits when the store is closed and the queue empty.
func (s *Store) writeLoop() {
	defer close(s.wdone)
	for {
		group := s.takeQueue()
		if group == nil {
			select {
			case <-s.kick:
				continue
			case <-s.closed:
				if group = s.takeQueue(); group == nil {
					return
				}
			}
		}
		if s.opts.MaxRecordsBetweenFsync > 1 {
			group = s.gather(group)
		}
		s.commit(group)
	}
}

func (s *Store) takeQueue() []*putReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
}

// gather waits up to SyncInterval for the group to reach MaxRecordsBetweenFsync records.
func (s *Store) gather(group []*putReq) []*putReq {
	n := 0
	for _, r := range group {
		n += r.n
	}
	timer := time.NewTimer(s.opts.SyncInterval)
	defer timer.Stop()
	for n < s.opts.MaxRecordsBetweenFsync {
		select {
		case <-s.kick:
			more := s.takeQueue()
			for _, r := range more {
				n += r.n
			}
			group = append(group, more...)
		case <-timer.C:
			return group
		case <-s.closed:
			return append(group, s.takeQueue()...)
		}
	}
	return group
}

// commit writes the group in runs that each fit the active segment, rotating between runs. After a failed run
// the rest of the group fails with the same error.
func (s *Store) commit(group []*putReq) {
	var err error
	for len(group) > 0 {
		if err != nil {
			s.finish(group[:1], err)
			group = group[1:]
			continue
		}
		run, recs, size := s.fitRun(group)
		if run == 0 {
			if err = s.rotate(); err != nil {
				if s.makeRoom(err) {
					err = nil
				}
				continue
			}
			run, recs, size = s.fitRun(group)
		}
		err = s.writeRun(group[:run], recs, size)
		if err != nil && s.makeRoom(err) {
			err = nil
			continue // the same run again, in a new segment
		}
		s.finish(group[:run], err)
		group = group[run:]
	}
}

// fitRun returns how many queued Puts, from the first, go into the active segment within its bounds. An empty
// segment takes at least one Put, however big. It returns 0 when there is no active segment or the first Put does
// not fit.
func (s *Store) fitRun(group []*putReq) (run, recs int, size int64) {
	if s.wf == nil {
		return 0, 0, 0
	}
	have := int(s.active.last + 1 - s.active.first)
	for _, r := range group {
		fits := have+recs+r.n <= s.opts.RecordsPerSegment && s.wsize+size+int64(len(r.buf)) <= s.opts.SegmentBytes
		if !fits && (have > 0 || run > 0) {
			break
		}
		run, recs, size = run+1, recs+r.n, size+int64(len(r.buf))
	}
	return run, recs, size
}

// writeRun writes and syncs one run of Puts into the active segment and publishes it.
func (s *Store) writeRun(run []*putReq, recs int, size int64) error {
	buf := s.wbuf[:0]
	for _, r := range run {
		buf = append(buf, r.buf...)
	}
	seq := s.nextSeq
	for off := 0; off < len(buf); seq++ {
		off += sealFrame(buf[off:], seq)
	}
	s.wbuf = buf[:0]
	if len(buf) > 4<<20 {
		s.wbuf = nil // do not keep a huge buffer for ever
	}
	_, err := s.wf.Write(buf)
	if err == nil {
		err = s.wf.Sync()
	}
	if err != nil {
		return s.writeFailed(err)
	}
	s.wsize += size
	s.mu.Lock()
	s.active.last = seq - 1
	s.active.size = s.wsize
	first := s.nextSeq
	for _, r := range run {
		s.classify(r.recs, first)
		first += uint64(r.n)
	}
	s.nextSeq = seq
	s.count += recs
	s.pendRec -= recs
	s.pendB -= size
	if s.opts.Policy == tbgateway.DropOldest {
		s.dropOverflow()
	}
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
	if s.diskFull {
		s.diskFull = false
		s.log.Info("file storage: writing again after the disk was full", "dir", s.opts.Dir)
	}
	return nil
}

// finish answers Puts; a failed Put's records are no longer pending.
func (s *Store) finish(reqs []*putReq, err error) {
	if err != nil {
		s.mu.Lock()
		for _, r := range reqs {
			s.pendRec -= r.n
			s.pendB -= int64(len(r.buf))
			if errors.Is(err, tbgateway.ErrStorageFull) {
				s.stats.Refused += uint64(r.n)
			}
		}
		s.mu.Unlock()
	}
	for _, r := range reqs {
		r.done <- err
	}
}

// writeFailed cuts a partial write back to the last synced length and retires the segment: after a failed write
// or fsync its unsynced pages are in an unknown state, so the next write starts a new segment.
func (s *Store) writeFailed(werr error) error {
	g := s.active
	err := s.ioError("write", g.path, werr)
	if terr := s.wf.Truncate(s.wsize); terr == nil {
		_ = s.wf.Sync() // best effort: the segment is retired and read only up to its published size anyway
	}
	_ = s.wf.Close()
	s.wf = nil
	s.mu.Lock()
	s.fstats.WriteErrors++
	if errors.Is(err, tbgateway.ErrStorageFull) {
		s.fstats.DiskFull++
	}
	g.sealed = true
	s.active = nil
	if g.empty() {
		s.removeSeg(g)
	}
	s.mu.Unlock()
	if g.empty() {
		_ = os.Remove(g.path) // it holds no record; a leftover is repaired away on the next Open
	}
	if errors.Is(err, tbgateway.ErrStorageFull) && !s.diskFull {
		s.diskFull = true
		if s.opts.Policy == tbgateway.DropOldest {
			s.log.Warn("file storage: disk full, dropping the oldest segments to make room", "dir", s.opts.Dir, "err", werr)
		} else {
			s.log.Warn("file storage: disk full, refusing records until space returns", "dir", s.opts.Dir, "err", werr)
		}
	}
	return err
}

// makeRoom applies DropOldest to a full disk: when err is a lack of space, it deletes the oldest segment (never
// the newest, which keeps sequence numbers from being reused), drops its unacknowledged records, counting and
// logging them, and reports whether the write should be tried again. The writer and the checkpoint call it.
func (s *Store) makeRoom(err error) bool {
	if s.opts.Policy != tbgateway.DropOldest || !errors.Is(err, tbgateway.ErrStorageFull) {
		return false
	}
	s.mu.Lock()
	if len(s.segs) < 2 {
		s.mu.Unlock()
		return false
	}
	g := s.segs[0]
	dropped := 0
	for seq := max(g.first, s.prefix+1); !g.empty() && seq <= g.last; seq++ {
		if _, a := s.acked[seq]; a {
			delete(s.acked, seq)
			continue
		}
		s.count--
		dropped++
	}
	s.prefix = max(s.prefix, g.last)
	s.advancePrefix()
	s.savePrefix()
	s.removeSeg(g)
	s.stats.Dropped += uint64(dropped)
	s.dirty++
	total := s.stats.Dropped
	s.mu.Unlock()
	rerr := os.Remove(g.path)
	if rerr == nil {
		rerr = syncDir(s.opts.Dir)
	}
	s.log.Warn("file storage: disk full: dropped the oldest segment", "segment", g.path, "dropped", dropped,
		"dropped_total", total, "err", rerr)
	return true
}

// removeSeg takes g out of the segment list. Callers hold mu.
func (s *Store) removeSeg(g *segment) {
	for i, h := range s.segs {
		if h == g {
			s.segs = append(s.segs[:i], s.segs[i+1:]...)
			return
		}
	}
}

// rotate closes the active segment and starts a new one named after the next sequence number.
func (s *Store) rotate() error {
	if s.wf != nil {
		err := s.wf.Close()
		s.wf = nil
		s.mu.Lock()
		old := s.active
		old.sealed = true
		s.active = nil
		s.mu.Unlock()
		if err != nil {
			return s.ioError("close", old.path, err)
		}
	}
	path := filepath.Join(s.opts.Dir, segmentName(s.nextSeq))
	f, err := s.opts.openSegment(path)
	if err != nil {
		return s.ioError("create segment", path, err)
	}
	if err := syncDir(s.opts.Dir); err != nil {
		_ = f.Close()
		return s.ioError("create segment", path, err)
	}
	g := &segment{path: path, first: s.nextSeq, last: s.nextSeq - 1}
	s.mu.Lock()
	s.segs = append(s.segs, g)
	s.active = g
	s.mu.Unlock()
	s.wf, s.wsize = f, 0
	return nil
}

// ioError wraps a write-path error with the file it concerns; lack of space also wraps tbgateway.ErrStorageFull.
func (s *Store) ioError(op, path string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EFBIG) {
		return fmt.Errorf("file storage: %s %s: %w: %w", op, path, tbgateway.ErrStorageFull, err)
	}
	return fmt.Errorf("file storage: %s %s: %w", op, path, err)
}
