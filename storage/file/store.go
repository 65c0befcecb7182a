package file

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"

	tbgateway "github.com/tbgateway/tbgateway"
)

// FileStats are the counters of a Store beyond tbgateway.StorageStats.
type FileStats struct {
	// TornTails counts last segments found cut short or damaged on Open and truncated to their valid prefix.
	TornTails uint64
	// Corrupt counts earlier segments found damaged on Open, and records whose payload could not be decoded.
	Corrupt uint64
	// LostRecords counts the records known lost to damage (from the gap in sequence numbers it left).
	LostRecords uint64
	// WriteErrors counts failed group commits; DiskFull counts those that failed for lack of space.
	WriteErrors uint64
	DiskFull    uint64
	// Imported counts records imported from the Python file storage.
	Imported uint64
	// Segments is the number of segment files; LiveBytes their bytes that still hold unacknowledged records.
	Segments  int
	LiveBytes int64
}

// Store is the durable segment-log storage. It implements tbgateway.Storage and tbgateway.LiveReader; all methods
// are safe for concurrent use by many writers and one reader per lane.
type Store struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	segs    []*segment // ordered by sequence number; the active one, if any, is last
	active  *segment   // the segment the writer appends to; nil until the next write creates one
	nextSeq uint64     // sequence number of the next committed record (the writer's, published under mu)
	prefix  uint64     // every record with a sequence number up to prefix is acknowledged or dropped
	acked   map[uint64]struct{}
	count   int // committed, unacknowledged records
	pendRec int // records queued for the writer
	pendB   int64
	queue   []*putReq
	handed  uint64 // highest sequence number handed out by Next
	redeliv uint64 // records below this sequence number are counted as redelivered when handed out
	dirty   int    // acknowledgements (and hand-outs) not yet checkpointed
	stats   tbgateway.StorageStats
	fstats  FileStats
	wake    chan struct{} // closed and replaced when records are committed
	closed  chan struct{}

	kick        chan struct{} // wakes the writer
	ckKick      chan struct{} // wakes the checkpointer
	wdone       chan struct{}
	cdone       chan struct{}
	ckMu        sync.Mutex // serialises checkpoints
	slot        *os.File   // tbgw-ackpos, the prefix written on every ack that moves it (nil until Open is done)
	slotPrefix  uint64     // the prefix last written to slot
	slotFailing bool       // the last slot write failed
	diskFull    bool       // writer-owned: the last commit failed for lack of space

	// Writer-owned: the active segment's file and its synced length.
	wf    segmentFile
	wsize int64
	wbuf  []byte

	rmu sync.Mutex // serialises Next's disk reads and Rewind
	rd  reader

	lane liveLane // guarded by mu
}

var _ tbgateway.Storage = (*Store)(nil)

// Open opens (creating if needed) the log in opts.Dir, repairs a damaged tail, imports the Python file storage's
// unread events if Dir holds them, and starts the writer. log receives the repair and import reports; nil means
// slog.Default().
func Open(opts Options, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	if opts.Dir == "" {
		return nil, errors.New("file storage: no directory (data_folder_path) given")
	}
	opts = opts.withDefaults(log)
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("file storage: %w", err)
	}
	s := &Store{
		opts:   opts,
		log:    log,
		acked:  map[uint64]struct{}{},
		wake:   make(chan struct{}),
		closed: make(chan struct{}),
		kick:   make(chan struct{}, 1),
		ckKick: make(chan struct{}, 1),
		wdone:  make(chan struct{}),
		cdone:  make(chan struct{}),
	}
	if err := s.recover(); err != nil {
		return nil, err
	}
	slot, err := openSlot(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("file storage: %w", err)
	}
	s.mu.Lock()
	s.slot = slot
	s.savePrefix()
	s.mu.Unlock()
	go s.writeLoop()
	go s.checkpointLoop()
	if err := s.importPython(context.Background()); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// recover loads the read position and the segments, repairing damaged ones.
func (s *Store) recover() error {
	st, err := readAckState(ackPath(s.opts.Dir))
	if err != nil {
		// Starting from zero re-delivers what was acknowledged but loses nothing.
		s.log.Error("file storage: read position unreadable, delivering every stored record again", "err", err)
		s.fstats.Corrupt++
		st = ackState{}
	}
	// The slot file may hold a later prefix than the checkpoint: it is written on every ack, without fsync.
	if p, ok, err := readSlot(s.opts.Dir); err != nil {
		return fmt.Errorf("file storage: %w", err)
	} else if ok && p > st.prefix {
		st.prefix = p
		st.handed = max(st.handed, p)
	}
	segs, err := listSegments(s.opts.Dir)
	if err != nil {
		return fmt.Errorf("file storage: %w", err)
	}
	damaged := make([]bool, len(segs))
	for i, g := range segs {
		if damaged[i], err = s.repair(g, i == len(segs)-1); err != nil {
			return err
		}
	}
	for i := range len(segs) - 1 {
		if damaged[i] && segs[i+1].first > segs[i].last+1 {
			s.fstats.LostRecords += segs[i+1].first - segs[i].last - 1
		}
	}
	s.segs = segs
	s.prefix, s.handed = st.prefix, st.handed
	s.redeliv = st.handed + 1
	s.nextSeq = max(st.prefix, st.handed) + 1
	for seq := range st.acked {
		s.nextSeq = max(s.nextSeq, seq+1)
	}
	for _, g := range segs {
		s.nextSeq = max(s.nextSeq, g.last+1, g.first)
		if !g.empty() && g.last > s.prefix {
			s.count += int(g.last - max(g.first, s.prefix+1) + 1)
		}
	}
	for seq := range st.acked {
		if seq > s.prefix && s.exists(seq) {
			s.acked[seq] = struct{}{}
			s.count--
		}
	}
	s.advancePrefix()
	s.slotPrefix = s.prefix
	s.dirty = 1 // the first checkpoint rewrites the position and deletes what it covers
	if s.opts.Policy == tbgateway.DropOldest {
		s.dropOverflow()
	}
	s.log.Info("file storage: opened", "dir", s.opts.Dir, "segments", len(segs), "records", s.count,
		"capacity", s.opts.MaxRecords, "policy", s.opts.Policy)
	return nil
}

// repair scans one segment and truncates it to its valid prefix, reporting the damage.
func (s *Store) repair(g *segment, last bool) (damaged bool, err error) {
	data, err := os.ReadFile(g.path)
	if err != nil {
		return false, fmt.Errorf("file storage: read segment %s: %w", g.path, err)
	}
	r := scanSegment(data, g.first)
	g.first, g.last, g.size = r.first, r.last, r.valid
	s.noteSessionFrames(data[:r.valid])
	if !r.damaged {
		return false, nil
	}
	if last {
		s.fstats.TornTails++
		s.log.Warn("file storage: torn tail repaired", "segment", g.path, "valid_bytes", r.valid,
			"cut_bytes", int64(len(data))-r.valid, "reason", r.reason)
	} else {
		s.fstats.Corrupt++
		s.log.Error("file storage: damaged segment cut at its last valid record; later records of it are lost",
			"segment", g.path, "valid_bytes", r.valid, "cut_bytes", int64(len(data))-r.valid, "reason", r.reason)
	}
	if err := os.Truncate(g.path, r.valid); err != nil {
		return true, fmt.Errorf("file storage: repair segment %s: %w", g.path, err)
	}
	return true, nil
}

// exists reports whether a committed record has sequence number seq. Callers hold mu.
func (s *Store) exists(seq uint64) bool {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].last >= seq })
	return i < len(s.segs) && s.segs[i].first <= seq && seq <= s.segs[i].last
}

// nextExisting returns the lowest committed sequence number at or above seq. Callers hold mu.
func (s *Store) nextExisting(seq uint64) (uint64, bool) {
	for i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].last >= seq }); i < len(s.segs); i++ {
		if g := s.segs[i]; !g.empty() {
			return max(g.first, seq), true
		}
	}
	return 0, false
}

// segAfter returns the segment that follows g (which may have been deleted meanwhile), or nil. Callers hold mu.
func (s *Store) segAfter(g *segment) *segment {
	for _, h := range s.segs {
		if h != g && h.first >= g.first && (h.first > g.first || g.empty()) {
			return h
		}
	}
	return nil
}

// liveBytes is the size of the segments that still hold unacknowledged records. Callers hold mu.
func (s *Store) liveBytes() int64 {
	var n int64
	for _, g := range s.segs {
		if g == s.active || (!g.empty() && g.last > s.prefix) {
			n += g.size
		}
	}
	return n
}

// Put stores recs durably and in order: it returns only after an fsync covering all of them has completed. A
// batch is stored whole or not at all. When the store is full under RefuseNew, or the disk is full, the error
// wraps tbgateway.ErrStorageFull (the disk-full error names the file). Once the records are queued for the writer,
// Put waits for the outcome even if ctx is cancelled, so that its answer is always true. The caller must not
// modify the records' maps afterwards.
func (s *Store) Put(ctx context.Context, recs []tbgateway.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	return s.put(recs, false)
}

// put queues recs for the writer and waits for the commit; force skips the record and byte bounds.
func (s *Store) put(recs []tbgateway.Record, force bool) error {
	buf := make([]byte, 0, 96*len(recs))
	for i := range recs {
		start := len(buf)
		buf = append(buf, make([]byte, frameHeader)...)
		buf = recs[i].AppendBinary(buf)
		if n := len(buf) - start - frameHeader; n > maxPayload {
			return fmt.Errorf("file storage: record of device %q is %d bytes, more than %d", recs[i].Device, n, maxPayload)
		}
		binary.LittleEndian.PutUint32(buf[start:], uint32(len(buf)-start-frameHeader))
	}
	req := &putReq{buf: buf, n: len(recs), recs: recs, done: make(chan error, 1)}
	s.mu.Lock()
	if s.isClosed() {
		s.mu.Unlock()
		return fmt.Errorf("file storage: put: %w", tbgateway.ErrStorageClosed)
	}
	if err := s.admit(req, force); err != nil {
		s.mu.Unlock()
		return err
	}
	s.queue = append(s.queue, req)
	s.pendRec += req.n
	s.pendB += int64(len(buf))
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return <-req.done
}

// admit applies the bounds under RefuseNew. Callers hold mu.
func (s *Store) admit(req *putReq, force bool) error {
	if force || s.opts.Policy == tbgateway.DropOldest {
		return nil
	}
	if held := s.count + s.pendRec; held+req.n > s.opts.MaxRecords {
		s.stats.Refused += uint64(req.n)
		return fmt.Errorf("file storage %s: %d records do not fit (%d of %d held): %w",
			s.opts.Dir, req.n, held, s.opts.MaxRecords, tbgateway.ErrStorageFull)
	}
	if s.opts.MaxBytes > 0 {
		if held := s.liveBytes() + s.pendB; held+int64(len(req.buf)) > s.opts.MaxBytes {
			s.stats.Refused += uint64(req.n)
			return fmt.Errorf("file storage %s: %d bytes do not fit (%d of %d held): %w",
				s.opts.Dir, len(req.buf), held, s.opts.MaxBytes, tbgateway.ErrStorageFull)
		}
	}
	return nil
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Stats returns the store's counters.
func (s *Store) Stats() tbgateway.StorageStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Count = s.count
	return st
}

// FileStats returns the counters specific to the file storage.
func (s *Store) FileStats() FileStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := s.fstats
	fs.Segments = len(s.segs)
	fs.LiveBytes = s.liveBytes()
	return fs
}

// Close finishes the queued Puts, checkpoints the read position, deletes fully acknowledged segments and releases
// the files; the records not acknowledged stay for the next Open. A Next blocked in another goroutine returns
// tbgateway.ErrStorageClosed. Closing twice is not an error.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.isClosed() {
		s.mu.Unlock()
		return nil
	}
	close(s.closed)
	s.mu.Unlock()
	<-s.wdone
	<-s.cdone
	err := s.checkpoint()
	if s.wf != nil {
		err = errors.Join(err, s.wf.Close())
		s.wf = nil
	}
	s.mu.Lock()
	if s.slot != nil {
		err = errors.Join(err, s.slot.Close())
		s.slot = nil
	}
	s.mu.Unlock()
	s.rmu.Lock()
	s.rd.close()
	s.rmu.Unlock()
	return err
}
