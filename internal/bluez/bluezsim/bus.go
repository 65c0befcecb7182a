package bluezsim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// busConfig lets every connection of this user own any name and talk to anyone: a private bus for one test.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_replies_per_connection">50000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
</busconfig>
`

// ErrNoDaemon: dbus-daemon is not installed.
var ErrNoDaemon = errors.New("dbus-daemon not found (Debian package dbus-daemon; scripts/install-test-deps.sh)")

// Bus is a private dbus-daemon started by RunBus.
type Bus struct {
	Address string // "unix:path=..."
	cmd     *exec.Cmd
	dir     string
	exited  chan struct{}
	stderr  *bytes.Buffer
	once    sync.Once
}

// RunBus starts a private dbus-daemon listening on a unix socket in a new temporary folder, with a generated
// configuration, and returns once it accepts connections (ctx bounds the wait). Close stops it. For programs
// (benchmarks, demos); tests use StartBus.
func RunBus(ctx context.Context) (*Bus, error) {
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDaemon, err)
	}
	// Unix socket paths are limited to ~108 bytes; t.TempDir() paths can be longer.
	dir, err := os.MkdirTemp("", "bluezsim")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(busConfig, filepath.Join(dir, "bus"))), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	b := &Bus{dir: dir, exited: make(chan struct{}), stderr: &bytes.Buffer{}}
	b.cmd = exec.Command(bin, "--config-file="+conf, "--nofork", "--nopidfile", "--print-address=1")
	b.cmd.SysProcAttr = daemonAttr()
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	b.cmd.Stderr = b.stderr // the daemon's warnings, for Close's caller to show on failure
	if err := b.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start dbus-daemon: %w", err)
	}
	line := make(chan string, 1)
	go func() {
		// The daemon prints its address once it listens.
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	go func() {
		b.cmd.Wait()
		close(b.exited)
	}()
	select {
	case b.Address = <-line:
	case <-ctx.Done():
		b.Close()
		return nil, fmt.Errorf("dbus-daemon printed no address: %w", ctx.Err())
	}
	if b.Address == "" {
		b.Close()
		return nil, fmt.Errorf("dbus-daemon exited without printing its address: %s", b.stderr.String())
	}
	return b, nil
}

// PID is the daemon's process id.
func (b *Bus) PID() int { return b.cmd.Process.Pid }

// Close stops the daemon and removes its folder; it returns what the daemon wrote to stderr.
func (b *Bus) Close() (stderr string) {
	b.once.Do(func() {
		b.cmd.Process.Kill()
		<-b.exited
		os.RemoveAll(b.dir)
	})
	return b.stderr.String()
}

// StartBus starts a private dbus-daemon (RunBus) and returns its address ("unix:path=..."); it is stopped at the
// test's cleanup. When dbus-daemon is not installed the test fails if CI=true and is skipped otherwise.
func StartBus(tb testing.TB) (address string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // guards against a hang only
	defer cancel()
	b, err := RunBus(ctx)
	if errors.Is(err, ErrNoDaemon) && os.Getenv("CI") != "true" {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if s := b.Close(); tb.Failed() && s != "" {
			tb.Logf("dbus-daemon said:\n%s", s)
		}
	})
	return b.Address
}
