package file

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/storage/storagetest"
)

// probe wraps segment files to watch and break them: it records how many bytes were written and how many a
// completed fsync covered, can hold an fsync until released, and can fail writes or fsyncs.
type probe struct {
	mu        sync.Mutex
	written   int64 // bytes written to the current segment
	synced    int64 // bytes of the current segment covered by the last completed fsync
	syncs     int
	entered   chan struct{} // if set, receives once per Sync call before it proceeds
	release   chan struct{} // if set, Sync waits for it to be closed
	failWrite error         // if set, Write stores half its bytes and returns this
	failSync  error         // if set, Sync returns this
}

func (p *probe) open(path string) (segmentFile, error) {
	f, err := openSegmentFile(path)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.written, p.synced = 0, 0
	p.mu.Unlock()
	return &probeFile{p: p, f: f.(*os.File)}, nil
}

type probeFile struct {
	p *probe
	f *os.File
}

func (pf *probeFile) Write(b []byte) (int, error) {
	pf.p.mu.Lock()
	fail := pf.p.failWrite
	pf.p.mu.Unlock()
	if fail != nil {
		n, _ := pf.f.Write(b[:len(b)/2])
		pf.p.mu.Lock()
		pf.p.written += int64(n)
		pf.p.mu.Unlock()
		return n, fail
	}
	n, err := pf.f.Write(b)
	pf.p.mu.Lock()
	pf.p.written += int64(n)
	pf.p.mu.Unlock()
	return n, err
}

func (pf *probeFile) Sync() error {
	pf.p.mu.Lock()
	entered, release, fail, covers := pf.p.entered, pf.p.release, pf.p.failSync, pf.p.written
	pf.p.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if release != nil {
		<-release
	}
	if fail != nil {
		return fail
	}
	if err := pf.f.Sync(); err != nil {
		return err
	}
	pf.p.mu.Lock()
	pf.p.synced = max(pf.p.synced, covers)
	pf.p.syncs++
	pf.p.mu.Unlock()
	return nil
}

func (pf *probeFile) Truncate(size int64) error {
	err := pf.f.Truncate(size)
	if err == nil {
		pf.p.mu.Lock()
		pf.p.written = size
		pf.p.mu.Unlock()
	}
	return err
}

func (pf *probeFile) Close() error { return pf.f.Close() }

func (p *probe) state() (written, synced int64, syncs int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.written, p.synced, p.syncs
}

// TestPutReturnsAfterSync checks, for both fsync policies, that every Put returns only once a completed fsync
// covers every byte written so far (one writer, so those are its own bytes).
func TestPutReturnsAfterSync(t *testing.T) {
	for _, every := range []int{1, 100} {
		p := &probe{}
		s := openT(t, Options{Dir: t.TempDir(), MaxRecordsBetweenFsync: every, SyncInterval: time.Millisecond,
			SegmentBytes: 2048, openSegment: p.open})
		for n := range 50 {
			mustPut(t, s, recRange(n*3, n*3+3)...)
			if w, sy, _ := p.state(); sy != w || w == 0 {
				t.Fatalf("fsync policy %d: Put %d returned with %d bytes written and %d synced", every, n, w, sy)
			}
		}
		closeT(t, s)
	}
}

// TestPutWaitsForSyncAndGroupCommits holds the first fsync: its Put must not return meanwhile, and the Puts
// queued behind it must share the next single write and fsync.
func TestPutWaitsForSyncAndGroupCommits(t *testing.T) {
	p := &probe{entered: make(chan struct{}, 16), release: make(chan struct{})}
	s := openT(t, Options{Dir: t.TempDir(), openSegment: p.open})
	first := make(chan error, 1)
	go func() { first <- s.Put(context.Background(), recRange(0, 1)) }()
	receive(t, "the first Put's fsync", p.entered)
	select {
	case err := <-first:
		t.Fatalf("Put returned (%v) while its fsync was still running", err)
	default:
	}
	const followers = 10
	var wg sync.WaitGroup
	errs := make(chan error, followers)
	for i := range followers {
		wg.Go(func() { errs <- s.Put(context.Background(), recRange(1+i, 2+i)) })
	}
	waitFor(t, "the followers to queue", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.queue) == followers
	})
	close(p.release)
	if err := receive(t, "the first Put to return", first); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	receive(t, "the queued Puts to return", waited)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if w, sy, syncs := p.state(); syncs != 2 || sy != w {
		t.Fatalf("%d fsyncs covering %d of %d bytes, want 2 covering all: the queued Puts must share one", syncs, sy, w)
	}
	closeT(t, s)
}

// receive returns the next value from ch; the deadline only turns a hang (a Put that never fsyncs, say) into a
// failure.
func receive[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// waitFor polls cond; the deadline only bounds a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDiskFullInjected fails a write half-way (and then an fsync) with ENOSPC: the Put fails with an error
// wrapping ErrStorageFull and naming the file, the partial write is cut back, nothing is counted, and the store
// works again once space returns.
func TestDiskFullInjected(t *testing.T) {
	for _, where := range []string{"write", "fsync"} {
		t.Run(where, func(t *testing.T) {
			dir := t.TempDir()
			p := &probe{}
			s := openT(t, Options{Dir: dir, openSegment: p.open})
			mustPut(t, s, recRange(0, 5)...)
			size := fileSizeOf(t, segFiles(t, dir)[0])
			p.mu.Lock()
			if where == "write" {
				p.failWrite = syscall.ENOSPC
			} else {
				p.failSync = syscall.ENOSPC
			}
			p.mu.Unlock()
			err := s.Put(context.Background(), recRange(5, 8))
			if !errors.Is(err, tbgateway.ErrStorageFull) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Put on a full disk: %v, want ErrStorageFull wrapping ENOSPC", err)
			}
			if !strings.Contains(err.Error(), segFiles(t, dir)[0]) {
				t.Fatalf("error %q does not name the segment", err)
			}
			if got := fileSizeOf(t, segFiles(t, dir)[0]); got != size {
				t.Fatalf("segment is %d bytes after the failed Put, want %d (cut back)", got, size)
			}
			st, fs := s.Stats(), s.FileStats()
			if st.Count != 5 || st.Refused != 3 || fs.DiskFull != 1 {
				t.Fatalf("Stats %+v, FileStats %+v: want Count 5, Refused 3, DiskFull 1", st, fs)
			}
			p.mu.Lock()
			p.failWrite, p.failSync = nil, nil
			p.mu.Unlock()
			mustPut(t, s, recRange(8, 10)...)
			want := []int{0, 1, 2, 3, 4, 8, 9}
			if nums, _ := drainAll(t, s); !reflect.DeepEqual(nums, want) {
				t.Fatalf("got %v, want %v", nums, want)
			}
			closeT(t, s)
			s = openT(t, Options{Dir: dir})
			defer closeT(t, s)
			if nums, _ := drainAll(t, s); !reflect.DeepEqual(nums, want) {
				t.Fatalf("after reopen got %v, want %v", nums, want)
			}
			if fs := s.FileStats(); fs.TornTails != 0 || fs.Corrupt != 0 {
				t.Fatalf("reopen found damage: %+v", fs)
			}
		})
	}
}

func fileSizeOf(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestDiskFullTmpfs fills a real 1 MiB tmpfs: Put fails with ErrStorageFull naming the file, what was stored
// stays intact, and once the records are acknowledged and their segments deleted, Puts succeed again.
func TestDiskFullTmpfs(t *testing.T) {
	dir := storagetest.MountTmpfs(t, "1m")
	opts := Options{Dir: dir, MaxRecords: 1 << 20, SegmentBytes: 64 << 10}
	s := openT(t, opts)
	big := func(n int) tbgateway.Record {
		r := rec(n)
		r.Telemetry[0].Values["pad"] = strings.Repeat("x", 1000)
		return r
	}
	stored := 0
	var err error
	for ; stored < 5000; stored++ {
		if err = s.Put(context.Background(), []tbgateway.Record{big(stored)}); err != nil {
			break
		}
	}
	if !errors.Is(err, tbgateway.ErrStorageFull) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("after %d records: Put error %v, want ErrStorageFull naming a file in %s", stored, err, dir)
	}
	if c := s.Stats().Count; c != stored {
		t.Fatalf("Count = %d, want %d", c, stored)
	}
	nums, es := drainAll(t, s)
	if len(nums) != stored || nums[stored-1] != stored-1 {
		t.Fatalf("drained %d records, want %d in order", len(nums), stored)
	}
	for _, e := range es {
		if err := s.Ack(e.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.checkpoint(); err != nil {
		t.Logf("checkpoint on a full disk: %v (segments are deleted anyway)", err)
	}
	for n := stored; n < stored+10; n++ {
		if err := s.Put(context.Background(), []tbgateway.Record{big(n)}); err != nil {
			t.Fatalf("Put after space returned: %v", err)
		}
	}
	closeT(t, s)
	s = openT(t, opts)
	defer closeT(t, s)
	if nums, _ := drainAll(t, s); len(nums) != 10 || nums[0] != stored {
		t.Fatalf("after reopen got %v, want the 10 records from %d", nums, stored)
	}
}
