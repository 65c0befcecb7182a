package file

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killEnv names the directory a re-executed test binary works in as the child of TestSIGKILLRepeatsOnlyInFlight.
const killEnv = "TBGW_FILE_SIGKILL_DIR"

const (
	killRecords = 1000
	killPrefix  = 600 // records 1..killPrefix are acknowledged (shuffled); killPrefix+1 is not
	killBeyond  = 650 // records killPrefix+2..killBeyond are acknowledged beyond the prefix
)

// killOpts never checkpoints on its own, so that only the slot file can carry the acknowledgements across the kill.
func killOpts(dir string) Options {
	return Options{Dir: dir, MaxRecords: 1 << 20, AckBatch: 1 << 30, AckInterval: time.Hour}
}

// TestSIGKILLChild is the child's side: it stores and hands out killRecords records, acknowledges them as
// described above, says so on stdout and waits to be killed. It does nothing unless killEnv is set.
func TestSIGKILLChild(t *testing.T) {
	dir := os.Getenv(killEnv)
	if dir == "" {
		t.Skip("only run as the child of TestSIGKILLRepeatsOnlyInFlight")
	}
	s := openT(t, killOpts(dir))
	for i := 0; i < killRecords; i += 100 {
		if err := s.Put(context.Background(), recRange(i, i+100)); err != nil {
			t.Fatal(err)
		}
	}
	es := drainEntries(t, s)
	if len(es) != killRecords || es[0].Seq != 1 {
		t.Fatalf("child: %d entries from seq %d, want %d from 1", len(es), es[0].Seq, killRecords)
	}
	var seqs []uint64
	for seq := uint64(1); seq <= killPrefix; seq++ {
		seqs = append(seqs, seq)
	}
	rand.Shuffle(len(seqs), func(i, j int) { seqs[i], seqs[j] = seqs[j], seqs[i] })
	for seq := uint64(killPrefix + 2); seq <= killBeyond; seq++ {
		seqs = append(seqs, seq)
	}
	for len(seqs) > 0 { // acks of a few records each, as the uplink sends them
		k := min(len(seqs), 7)
		if err := s.Ack(seqs[:k]...); err != nil {
			t.Fatal(err)
		}
		seqs = seqs[k:]
	}
	fmt.Println("acked")
	select {} // until SIGKILL
}

// TestSIGKILLRepeatsOnlyInFlight kills a child process holding the store after its Acks returned and reopens the
// directory: the acknowledged prefix is not handed out again although no checkpoint was written; every
// unacknowledged record is; only the acknowledgements beyond the prefix may repeat.
func TestSIGKILLRepeatsOnlyInFlight(t *testing.T) {
	if os.Getenv(killEnv) != "" {
		t.Skip("this is the child")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	acked, lines := false, []string{}
	for !acked && sc.Scan() {
		lines = append(lines, sc.Text())
		acked = sc.Text() == "acked"
	}
	if !acked {
		_ = cmd.Wait()
		t.Fatalf("child ended before acknowledging: %q %s", lines, stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child: %v, want killed", err)
	}
	if st, err := readAckState(filepath.Join(dir, ackFile)); err != nil || st.prefix >= killPrefix {
		t.Fatalf("checkpoint: %+v, %v: the test needs a checkpoint older than the acks", st, err)
	}

	s := openT(t, killOpts(dir))
	defer closeT(t, s)
	es := drainEntries(t, s)
	got := map[uint64]bool{}
	for _, e := range es {
		if e.Seq <= killPrefix {
			t.Fatalf("acknowledged record %d (in the prefix) handed out again after the kill", e.Seq)
		}
		got[e.Seq] = true
	}
	repeated := 0
	for seq := uint64(killPrefix + 1); seq <= killRecords; seq++ {
		beyond := seq >= killPrefix+2 && seq <= killBeyond
		switch {
		case beyond && got[seq]:
			repeated++
		case !beyond && !got[seq]:
			t.Fatalf("unacknowledged record %d missing after the kill", seq)
		}
	}
	if c := s.Stats().Count; c != len(es) {
		t.Fatalf("Count = %d after draining %d", c, len(es))
	}
	t.Logf("%d records after the kill; %d of the %d acknowledged beyond the prefix repeated", len(es), repeated,
		killBeyond-killPrefix-1)
}

// TestSlotIgnoredWhenInvalid opens a store whose slot file is torn, garbage or behind the checkpoint: the
// checkpoint's position applies.
func TestSlotIgnoredWhenInvalid(t *testing.T) {
	for name, slot := range map[string][]byte{
		"torn":    encodeSlot(90)[:slotSize-3],
		"garbage": []byte("not a slot file at all, really"),
		"bad crc": append(encodeSlot(90)[:slotSize-1], 0),
		"behind":  encodeSlot(5),
		"empty":   nil,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := openT(t, killOpts(dir))
			mustPut(t, s, recRange(0, 100)...)
			es := drainEntries(t, s)
			var seqs []uint64
			for _, e := range es[:40] {
				seqs = append(seqs, e.Seq)
			}
			if err := s.Ack(seqs...); err != nil {
				t.Fatal(err)
			}
			closeT(t, s) // checkpoints prefix 40
			if err := os.WriteFile(slotPath(dir), slot, 0o644); err != nil {
				t.Fatal(err)
			}
			s = openT(t, killOpts(dir))
			defer closeT(t, s)
			if es := drainEntries(t, s); len(es) != 60 || es[0].Seq != 41 {
				t.Fatalf("%d records from seq %d after reopening, want 60 from 41", len(es), es[0].Seq)
			}
			if p, ok, err := readSlot(dir); err != nil || (name != "behind" && ok && p != 40) {
				t.Fatalf("slot after reopening: %d %v %v", p, ok, err)
			}
		})
	}
}
