package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// crashChildEnv, when set to a directory, makes the test binary run crashChild instead of the tests.
const crashChildEnv = "TBGW_SQLITE_CRASH_CHILD_DIR"

const crashBatch = 10

// crashChild Puts batches from two goroutines into the store in $crashChildEnv and prints "<device> <n>" after
// each Put returned, n being the last record of the batch, until it is killed (or has written 100000 batches).
func crashChild() {
	s, err := Open(context.Background(), Options{Dir: os.Getenv(crashChildEnv)}, quiet)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for _, dev := range []string{"d0", "d1"} {
		wg.Go(func() {
			for n := 0; n < 100000*crashBatch; n += crashBatch {
				if err := s.Put(context.Background(), recs(dev, n, n+crashBatch)); err != nil {
					fmt.Fprintln(os.Stderr, "put:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintln(out, dev, n+crashBatch-1)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(0) // deliberately without Close
}

// TestCrashKeepsEveryReturnedPut runs a writer in a child process, SIGKILLs it after some Puts returned, and
// checks on reopening that every record whose Put returned is there, once and in order.
func TestCrashKeepsEveryReturnedPut(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	confirmed := map[string]int64{}
	lines := bufio.NewScanner(stdout)
	for seen := 0; seen < 200 && lines.Scan(); seen++ {
		var dev string
		var n int64
		if _, err := fmt.Sscan(lines.Text(), &dev, &n); err != nil {
			t.Fatalf("child wrote %q: %v", lines.Text(), err)
		}
		confirmed[dev] = max(confirmed[dev], n)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() { // Puts that returned while the kill was on its way
		var dev string
		var n int64
		if _, err := fmt.Sscan(lines.Text(), &dev, &n); err == nil {
			confirmed[dev] = max(confirmed[dev], n)
		}
	}
	_ = cmd.Wait()
	if len(confirmed) == 0 {
		t.Fatal("the child confirmed no Put")
	}

	s := openStore(t, Options{Dir: dir})
	total := s.Stats().Count
	next := map[string]int64{}
	for _, e := range drain(t, s, total) {
		dev, n := e.Record.Device, e.Record.Telemetry[0].Values["n"].(int64)
		if n != next[dev] {
			t.Fatalf("device %s: record %d where %d was expected (lost, duplicated or reordered)", dev, n, next[dev])
		}
		next[dev] = n + 1
	}
	for dev, n := range confirmed {
		if next[dev] <= n {
			t.Fatalf("device %s: Put of record %d returned, but the store holds only up to %d", dev, n, next[dev]-1)
		}
		if next[dev]%crashBatch != 0 {
			t.Fatalf("device %s: a torn batch survived, records up to %d", dev, next[dev]-1)
		}
	}
	t.Logf("after SIGKILL: %d records, confirmed %v, stored up to %v", total, confirmed, next)
}
