package connectortest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NeedPeer checks that the command a test talks to (socat, mosquitto, ...) is installed. When it is not, the
// test fails under CI=true (make test) and is skipped with a message saying how to install it otherwise.
func NeedPeer(t *testing.T, command string) {
	t.Helper()
	NeedPeerFunc(t, command, func() error {
		_, err := exec.LookPath(command)
		return err
	})
}

// NeedPeerFunc is NeedPeer for a peer that is not a command on PATH (a Python module, a kernel feature): check
// returns why the peer is missing, or nil when it is there. peer names it in the failure or skip message.
func NeedPeerFunc(t *testing.T, peer string, check func() error) {
	t.Helper()
	err := check()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("test peer missing: %s (%v)", peer, err)
	}
	t.Skipf("test peer missing: %s (%v); install it with scripts/install-test-deps.sh (make test-deps)", peer, err)
}

// PtyPair is a pair of pseudo-terminals joined by socat: what is written to one end is read from the other, as
// over a null-modem cable. Each end is a path (a symlink socat makes) that a serial library opens like a port.
type PtyPair struct {
	// A and B are the two ends.
	A, B string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartPtyPair starts socat with the ends dir/a and dir/b (dir "" means a new temporary folder) and returns once
// both exist. The pair is stopped when the test ends; Stop removes it earlier (a port that vanishes), and
// starting a pair again on the same dir brings the same paths back. socat must be installed (see NeedPeer).
func StartPtyPair(t *testing.T, ctx context.Context, dir string) *PtyPair {
	t.Helper()
	NeedPeer(t, "socat")
	if dir == "" {
		dir = t.TempDir()
	}
	p := &PtyPair{A: filepath.Join(dir, "a"), B: filepath.Join(dir, "b"), done: make(chan struct{})}
	p.cmd = exec.Command("socat", "-d", "-d", "pty,raw,echo=0,link="+p.A, "pty,raw,echo=0,link="+p.B)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start socat: %v", err)
	}
	ready := make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		announced := false
		for sc.Scan() {
			if !announced && strings.Contains(sc.Text(), "starting data transfer loop") {
				close(ready)
				announced = true
			}
		}
		_ = p.cmd.Wait()
	}()
	t.Cleanup(p.Stop)
	select {
	case <-ready:
	case <-p.done:
		t.Fatal("socat exited before its pty pair was ready")
	case <-ctx.Done():
		t.Fatalf("socat's pty pair not ready: %v", ctx.Err())
	}
	return p
}

// Stop ends socat and waits for it to exit, which removes both ends. Idempotent.
func (p *PtyPair) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
