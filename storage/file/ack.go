package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

const (
	ackFile  = "tbgw-ack"
	ackMagic = "TBGWACK1"
)

func ackPath(dir string) string { return filepath.Join(dir, ackFile) }

// Ack removes the records with the given sequence numbers, in any order. Numbers the store does not hold are
// ignored. When the acknowledged prefix moves, it is written to the slot file at once (no fsync); the full read
// position reaches the disk with the next checkpoint (see the package doc).
func (s *Store) Ack(seqs ...uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed() {
		return fmt.Errorf("file storage: ack: %w", tbgateway.ErrStorageClosed)
	}
	for _, seq := range seqs {
		if seq <= s.prefix || seq >= s.nextSeq {
			continue
		}
		if _, dup := s.acked[seq]; dup || !s.exists(seq) {
			continue
		}
		s.acked[seq] = struct{}{}
		s.forgetAcked(seq)
		s.count--
		s.dirty++
	}
	s.advancePrefix()
	s.savePrefix()
	if s.dirty >= s.opts.AckBatch {
		select {
		case s.ckKick <- struct{}{}:
		default:
		}
	}
	return nil
}

// advancePrefix moves the acknowledged prefix over acknowledged records. Callers hold mu.
func (s *Store) advancePrefix() {
	for len(s.acked) > 0 {
		nx, ok := s.nextExisting(s.prefix + 1)
		if !ok {
			return
		}
		if _, a := s.acked[nx]; !a {
			return
		}
		delete(s.acked, nx)
		s.prefix = nx
	}
}

// dropOverflow applies DropOldest: it drops the oldest unacknowledged records until the store is within its
// record bound, then whole oldest segments until it is within its byte bound. Callers hold mu.
func (s *Store) dropOverflow() {
	dropped := 0
	for s.count > s.opts.MaxRecords {
		nx, ok := s.nextExisting(s.prefix + 1)
		if !ok {
			break
		}
		s.prefix = nx // the record after the prefix is never acknowledged: advancePrefix would have passed it
		s.count--
		dropped++
		s.advancePrefix()
	}
	for s.opts.MaxBytes > 0 && s.liveBytes() > s.opts.MaxBytes {
		i := slices.IndexFunc(s.segs, func(g *segment) bool { return !g.empty() && g.last > s.prefix })
		if i < 0 || s.segs[i] == s.active {
			break
		}
		g := s.segs[i]
		for seq := max(g.first, s.prefix+1); seq <= g.last; seq++ {
			if _, a := s.acked[seq]; a {
				delete(s.acked, seq)
				continue
			}
			s.count--
			dropped++
		}
		s.prefix = g.last
		s.advancePrefix()
	}
	if dropped > 0 {
		s.savePrefix()
		s.stats.Dropped += uint64(dropped)
		s.dirty++
		s.log.Warn("file storage full: dropped the oldest records", "dir", s.opts.Dir, "dropped", dropped,
			"dropped_total", s.stats.Dropped)
	}
}

// ackState is the persisted read position.
type ackState struct {
	prefix uint64
	handed uint64
	acked  map[uint64]struct{}
}

func (a ackState) encode() []byte {
	b := append([]byte(ackMagic), make([]byte, 0, 24+8*len(a.acked))...)
	b = binary.LittleEndian.AppendUint64(b, a.prefix)
	b = binary.LittleEndian.AppendUint64(b, a.handed)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(a.acked)))
	for seq := range a.acked {
		b = binary.LittleEndian.AppendUint64(b, seq)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// readAckState reads the read position; a missing file is the empty position.
func readAckState(path string) (ackState, error) {
	st := ackState{acked: map[uint64]struct{}{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read %s: %w", path, err)
	}
	const fixed = len(ackMagic) + 8 + 8 + 4
	if len(b) < fixed+4 || string(b[:len(ackMagic)]) != ackMagic ||
		crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return st, fmt.Errorf("read %s: bad magic, length or CRC", path)
	}
	p := b[len(ackMagic):]
	st.prefix = binary.LittleEndian.Uint64(p)
	st.handed = binary.LittleEndian.Uint64(p[8:])
	n := int(binary.LittleEndian.Uint32(p[16:]))
	if len(b) != fixed+8*n+4 {
		return st, fmt.Errorf("read %s: length does not match its %d entries", path, n)
	}
	for i := range n {
		st.acked[binary.LittleEndian.Uint64(p[20+8*i:])] = struct{}{}
	}
	return st, nil
}

// writeAckState replaces the read position atomically: temporary file, fsync, rename, directory fsync.
func writeAckState(dir string, st ackState) error {
	tmp := ackPath(dir) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	_, err = f.Write(st.encode())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, ackPath(dir))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", ackPath(dir), err)
	}
	return syncDir(dir)
}

// checkpointLoop checkpoints a changed read position every AckInterval, or sooner after AckBatch
// acknowledgements. A failing checkpoint is logged when it starts and when it recovers.
func (s *Store) checkpointLoop() {
	defer close(s.cdone)
	t := time.NewTicker(s.opts.AckInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		case <-s.ckKick:
		}
		err := s.checkpoint()
		switch {
		case err != nil && !failing:
			s.log.Warn("file storage: checkpoint of the read position failed; retrying", "err", err)
		case err == nil && failing:
			s.log.Info("file storage: checkpoint of the read position works again", "dir", s.opts.Dir)
		}
		failing = err != nil
	}
}

// checkpoint persists the read position if it changed, then deletes the segments it fully covers.
//
// Deleting an acknowledged segment is safe even when the position could not be written (a full disk, where
// deleting is what frees space): after a crash the older position on disk only names records that no longer
// exist. The newest segment is always kept, so sequence numbers are never reused after a restart.
func (s *Store) checkpoint() error {
	s.ckMu.Lock()
	defer s.ckMu.Unlock()
	s.mu.Lock()
	if s.dirty == 0 {
		s.mu.Unlock()
		return nil
	}
	st := ackState{prefix: s.prefix, handed: s.handed, acked: make(map[uint64]struct{}, len(s.acked))}
	for seq := range s.acked {
		st.acked[seq] = struct{}{}
	}
	dirty := s.dirty
	s.dirty = 0
	s.pruneLive()
	s.mu.Unlock()
	err := writeAckState(s.opts.Dir, st)
	// Under drop-oldest a full disk makes room for the read position too.
	for err != nil && errors.Is(err, syscall.ENOSPC) && s.makeRoom(s.ioError("write", ackPath(s.opts.Dir), err)) {
		err = writeAckState(s.opts.Dir, st)
	}
	if err != nil {
		s.mu.Lock()
		s.dirty += dirty
		s.mu.Unlock()
		err = fmt.Errorf("file storage: %w", err)
	}
	var gone []*segment
	s.mu.Lock()
	for i, g := range s.segs {
		if i < len(s.segs)-1 && g.sealed && g != s.active && (g.empty() || g.last <= st.prefix) {
			gone = append(gone, g)
		}
	}
	for _, g := range gone {
		s.removeSeg(g)
	}
	s.mu.Unlock()
	if len(gone) == 0 {
		return err
	}
	for _, g := range gone {
		if rerr := os.Remove(g.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("file storage: delete acknowledged segment: %w", rerr))
		}
	}
	return errors.Join(err, syncDir(s.opts.Dir))
}
