// Package sqlite is the durable tbgateway.Storage kept in one SQLite database (modernc.org/sqlite, pure Go), the
// counterpart of the Python gateway's "sqlite" storage.
//
// The delivery contract, the same as tbgateway.Storage's:
//   - Put returns only after the transaction holding its records has committed. With Synchronous "FULL" (the
//     default) the commit is fsynced, so the records survive a crash of the process and of the machine; only then
//     may the connector acknowledge its device side. With "NORMAL" the commit is not fsynced: the records survive
//     a crash of the process but the last commits may be lost if the machine loses power (SQLite's WAL guarantee).
//   - Records leave the database only through Ack (after ThingsBoard's PUBACK), through the drop-oldest policy
//     or through the TTL; every drop is counted in StorageStats.Dropped and logged.
//   - Next hands out records in Put order (ORDER BY id), so order per device is kept.
//   - Every record is handed out once in normal operation. After Rewind the handed-out, unacknowledged records
//     are handed out again first, counted in StorageStats.Redelivered. After a crash or restart every
//     unacknowledged record is simply pending again; the ones that were in flight at that moment are the only
//     possible duplicates, and they are not counted as redelivered since a new process cannot know which were.
//   - The store is bounded by MaxRecords and by MaxBytes (the encoded size of the stored records). When full,
//     RefuseNew (the default) fails the whole Put with an error wrapping tbgateway.ErrStorageFull, DropOldest
//     deletes the oldest records to make room.
//   - A full disk (SQLITE_FULL, ENOSPC) fails Put with an error naming the file and wrapping
//     tbgateway.ErrStorageFull; the store stays usable and Put succeeds again once space returns.
//
// Writes go through one writer goroutine that owns the only writing connection and merges concurrent Puts and
// Acks into one transaction (group commit); each call waits for the commit that covers it. The database runs in
// WAL mode, so Next reads through its own connection without blocking the writer. Records are stored as BLOBs in
// tbgateway.Record's binary encoding, in table "records" of the file FileName inside Options.Dir.
//
// Python gateway databases (files "*.db" in Dir holding a table "messages" of JSON events) are imported once on
// Open, in the order the Python gateway would have sent them, and then renamed to "<name>.imported"; they are
// never deleted. See importPython for the details.
//
// # Full disk
//
// SQLite needs disk space to delete: a DELETE and the checkpoint that follows write WAL frames. So that a disk
// the store filled can be emptied by acknowledgements, the store keeps a reserve file, ReserveFileName of
// ReserveBytes in Dir, created on Open, and keeps its WAL small (checkpointed every 64 pages and truncated to
// ReserveBytes). The first write that fails for lack of space puts the store in the disk-full state: the reserve
// is deleted (logged once), Puts are refused (ErrStorageFull, counted in Refused) and Acks, drops and the TTL go
// on; an Ack that still fails for lack of space is retried once after a WAL checkpoint(TRUNCATE). Each Put in
// that state first gives the space of deleted records back to the file system (checkpoint(TRUNCATE) and
// incremental_vacuum) and then probes for ReserveBytes plus 1 MiB of free space; when that much is free, the
// reserve is recreated, the state ends (logged) and the Put goes ahead. The margin keeps a store on a disk that
// is still nearly full from switching between accepting and refusing a few Puts at a time.
//
// Under DropOldest a full disk does not refuse Puts: the Put that failed is retried in a transaction that first
// deletes the oldest records (as many as it adds, doubling until it fits), and while the disk stays full every
// Put does so, as SQLite reuses the freed pages and the file need not grow. The records are counted in Dropped
// and logged. After acknowledgements deleted records, the next Put probes for space as above and, when it is
// back, recreates the reserve and stops dropping.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// FileName is the name of the store's database file inside Options.Dir. It ends in ".sqlite", never ".db", so it
// can never be taken for one of the Python gateway's files.
const FileName = "tbgateway-storage.sqlite"

// Defaults of Options.
const (
	// DefaultMaxBytes is the Python gateway's default capacity: size_limit 1024 MB per file × max_db_amount 10.
	DefaultMaxBytes int64 = 1024 * 1024 * 1024 * 10
	// DefaultMaxRecords bounds the number of records: 10 million, about 100 bytes each within DefaultMaxBytes.
	DefaultMaxRecords = 10_000_000
	// DefaultTTLCheckPeriod is the Python messages_ttl_check_in_hours default, 1 hour.
	DefaultTTLCheckPeriod = time.Hour
	// DefaultBusyTimeout is how long a statement waits for a lock held by another connection.
	DefaultBusyTimeout = 5 * time.Second
	// DefaultMaxBatchRecords is the most records one group commit gathers, the Python writing_batch_size default.
	DefaultMaxBatchRecords = 1000
	// walCheckpointPages is the WAL size, in pages, at which a commit checkpoints it: small, so that the WAL
	// cannot fill a small disk before the records it holds are written back.
	walCheckpointPages = 64
)

// Options configure a Store. The zero value of every field but Dir selects its default.
type Options struct {
	// Dir is the directory of the database file FileName, created when missing; required. Use
	// DirFromDataFilePath for the Python key data_file_path.
	Dir string
	// MaxRecords is the most unacknowledged records the store holds; zero or less means DefaultMaxRecords.
	MaxRecords int
	// MaxBytes bounds the total encoded size of the unacknowledged records; zero or less means DefaultMaxBytes.
	// The database file is larger than this by SQLite's overhead (about 20 bytes per record plus free pages).
	MaxBytes int64
	// Policy is what a full store does with new records; empty means tbgateway.RefuseNew.
	Policy tbgateway.FullPolicy
	// Synchronous is SQLite's synchronous setting, "FULL" (default: every commit is fsynced) or "NORMAL" (commits
	// survive a process crash but not a power loss).
	Synchronous string
	// TTL is how long a record may stay in the store, counted from its Put; older records are deleted by a check
	// every TTLCheckPeriod, counted as dropped and logged. Zero or less means no expiry.
	TTL time.Duration
	// TTLCheckPeriod is the period of the TTL check; zero or less means DefaultTTLCheckPeriod.
	TTLCheckPeriod time.Duration
	// Clock returns the current time for Put times and the TTL; nil means time.Now.
	Clock func() time.Time
	// BusyTimeout is how long a statement waits for a lock; zero or less means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// MaxBatchRecords is the most records one group commit gathers (several Puts may make up one commit); zero or
	// less means DefaultMaxBatchRecords. A single larger Put is still committed whole.
	MaxBatchRecords int

	// pragmas are extra "PRAGMA name(value)" settings of the writing connection, for tests.
	pragmas []string
}

// DirFromDataFilePath returns the directory the Python gateway uses for its data_file_path setting: the
// directory part of the path ("./data/data.db" and "./data/" give "data", "./" gives ".").
func DirFromDataFilePath(p string) string {
	if p == "" {
		return "."
	}
	return filepath.Dir(p)
}

// Store is a durable, bounded queue of records in SQLite. It implements tbgateway.Storage and is safe for
// concurrent use.
type Store struct {
	opts Options
	path string
	log  *slog.Logger

	wdb, rdb *sql.DB
	wconn    *sql.Conn // the only writing connection, used by the writer goroutine

	sendMu  sync.RWMutex // held for reading while sending a request, for writing by Close
	reqs    chan *request
	stop    chan struct{} // closed by Close after no more requests can be sent
	done    chan struct{} // closed when the writer goroutine has returned
	readSem chan struct{} // serialises Next calls
	liveSem chan struct{} // serialises NextLive calls

	mu       sync.Mutex
	cursor   int64 // id of the last record handed out; Next reads above it
	handed   int64 // the highest id handed out before a Rewind: handing out ids up to it counts as redelivery
	gen      uint64
	lane     liveLane
	count    int
	bytes    int64
	stats    tbgateway.StorageStats
	wake     chan struct{} // closed and replaced when records are committed
	closed   chan struct{}
	closing  sync.Once
	closeErr error

	diskFull bool // writer-owned: a write failed for lack of space and the reserve was released
	freed    bool // writer-owned: records were deleted while diskFull, so the space may be back

	// beforeCommit, when set (by tests), runs in the writer goroutine just before each commit.
	beforeCommit func()
}

var (
	_ tbgateway.Storage    = (*Store)(nil)
	_ tbgateway.LiveReader = (*Store)(nil)
)

// Open opens (or creates) the store in opts.Dir, imports any Python gateway databases found there, and starts
// the writer goroutine. It fails when the directory cannot be created, the database cannot be opened, or a
// Python database cannot be read or does not fit; log receives the store's notices (nil means slog.Default()).
func Open(ctx context.Context, opts Options, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := normalize(&opts); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite storage: create directory %s: %w", opts.Dir, err)
	}
	s := &Store{
		opts:    opts,
		path:    filepath.Join(opts.Dir, FileName),
		log:     log.With("storage", "sqlite"),
		reqs:    make(chan *request, 256),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		readSem: make(chan struct{}, 1),
		liveSem: make(chan struct{}, 1),
		wake:    make(chan struct{}),
		closed:  make(chan struct{}),
	}
	if err := s.open(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	go s.writer()
	return s, nil
}

func normalize(o *Options) error {
	if o.Dir == "" {
		return errors.New("sqlite storage: no directory given")
	}
	if o.MaxRecords <= 0 {
		o.MaxRecords = DefaultMaxRecords
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	switch o.Policy {
	case "":
		o.Policy = tbgateway.RefuseNew
	case tbgateway.RefuseNew, tbgateway.DropOldest:
	default:
		return fmt.Errorf("sqlite storage: unknown full policy %q, want %q or %q", o.Policy, tbgateway.RefuseNew, tbgateway.DropOldest)
	}
	switch strings.ToUpper(o.Synchronous) {
	case "":
		o.Synchronous = "FULL"
	case "FULL", "NORMAL":
		o.Synchronous = strings.ToUpper(o.Synchronous)
	default:
		return fmt.Errorf("sqlite storage: synchronous %q, want FULL or NORMAL", o.Synchronous)
	}
	if o.TTLCheckPeriod <= 0 {
		o.TTLCheckPeriod = DefaultTTLCheckPeriod
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	if o.MaxBatchRecords <= 0 {
		o.MaxBatchRecords = DefaultMaxBatchRecords
	}
	return nil
}

const schema = `
CREATE TABLE IF NOT EXISTS records (
	id      INTEGER PRIMARY KEY AUTOINCREMENT, -- the sequence number; AUTOINCREMENT never reuses one
	put_ms  INTEGER NOT NULL,                  -- Put time in ms since the epoch, for the TTL
	data    BLOB NOT NULL,                     -- tbgateway.Record.AppendBinary
	live    INTEGER NOT NULL DEFAULT 0,        -- 1: live-eligible (see live.go)
	session TEXT                               -- the device of a connect or disconnect record, else NULL
);
CREATE TABLE IF NOT EXISTS imports (          -- Python databases already imported, so a crash never imports twice
	file     TEXT NOT NULL,
	size     INTEGER NOT NULL,
	mtime_ns INTEGER NOT NULL,
	rows     INTEGER NOT NULL,
	PRIMARY KEY (file, size, mtime_ns)
);`

// open opens both connections, creates the schema, imports Python databases and loads the counters.
func (s *Store) open(ctx context.Context) error {
	busy := s.opts.BusyTimeout.Milliseconds()
	wdsn := fmt.Sprintf("%s?_txlock=immediate&_auto_vacuum=INCREMENTAL&_pragma=busy_timeout(%d)"+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(%s)&_pragma=journal_size_limit(%d)&_pragma=wal_autocheckpoint(%d)",
		s.path, busy, s.opts.Synchronous, ReserveBytes, walCheckpointPages)
	for _, p := range s.opts.pragmas {
		wdsn += "&_pragma=" + p
	}
	var err error
	if s.wdb, err = sql.Open("sqlite", wdsn); err != nil {
		return fmt.Errorf("sqlite storage %s: open: %w", s.path, err)
	}
	s.wdb.SetMaxOpenConns(1)
	if s.wconn, err = s.wdb.Conn(ctx); err != nil {
		return fmt.Errorf("sqlite storage %s: open: %w", s.path, err)
	}
	if _, err := s.wconn.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("sqlite storage %s: create schema: %w", s.path, err)
	}
	if err := s.migrateLive(ctx); err != nil {
		return err
	}
	row := s.wconn.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(length(data)), 0) FROM records`)
	if err := row.Scan(&s.count, &s.bytes); err != nil {
		return fmt.Errorf("sqlite storage %s: count records: %w", s.path, err)
	}
	if err := s.importPython(ctx); err != nil {
		return err
	}
	if err := s.writeReserve(ReserveBytes); err != nil {
		if !isDiskFull(err) {
			return err
		}
		s.diskFullHit(err)
	}
	rdsn := fmt.Sprintf("%s?_pragma=busy_timeout(%d)&_pragma=query_only(1)", s.path, busy)
	if s.rdb, err = sql.Open("sqlite", rdsn); err != nil {
		return fmt.Errorf("sqlite storage %s: open reader: %w", s.path, err)
	}
	s.rdb.SetMaxOpenConns(2) // Next and NextLive
	if s.count > 0 {
		s.log.Info("sqlite storage opened with pending records", "file", s.path, "records", s.count, "bytes", s.bytes)
	}
	return nil
}

func (s *Store) closeDBs() error {
	var errs []error
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite storage %s: close: %w", s.path, err)
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

// Stats returns the store's counters. Refused also counts records refused because the disk was full.
func (s *Store) Stats() tbgateway.StorageStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Count = s.count
	return st
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Close lets the writer finish the requests already sent, stops it, wakes a blocked Next and closes the
// database; the unacknowledged records stay in the file. Closing twice is not an error.
func (s *Store) Close() error {
	s.closing.Do(func() {
		s.mu.Lock()
		close(s.closed)
		s.mu.Unlock()
		s.sendMu.Lock() // waits for senders that are past the closed check
		close(s.stop)
		s.sendMu.Unlock()
		<-s.done
		s.readSem <- struct{}{} // waits for a Next that is querying
		s.liveSem <- struct{}{} // and for a NextLive
		s.closeErr = s.closeDBs()
	})
	return s.closeErr
}
