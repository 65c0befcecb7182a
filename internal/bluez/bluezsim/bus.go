package bluezsim

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// StartBus starts a private dbus-daemon listening on a unix socket in a temporary folder, with a generated
// configuration, and returns its address ("unix:path=..."). The daemon is stopped at the test's cleanup. When
// dbus-daemon is not installed the test fails if CI=true and is skipped otherwise.
func StartBus(tb testing.TB) (address string) {
	tb.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		msg := "dbus-daemon not found (Debian package dbus-daemon; scripts/install-test-deps.sh): " + err.Error()
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	// Unix socket paths are limited to ~108 bytes; t.TempDir() paths can be longer.
	dir, err := os.MkdirTemp("", "bluezsim")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(busConfig, filepath.Join(dir, "bus"))), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "--config-file="+conf, "--nofork", "--nopidfile", "--print-address=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	var stderr bytes.Buffer // the daemon's warnings, shown when the test fails
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start dbus-daemon: %v", err)
	}
	exited := make(chan struct{})
	line := make(chan string, 1)
	go func() {
		// The daemon prints its address once it listens.
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	go func() {
		cmd.Wait()
		close(exited)
	}()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if tb.Failed() && stderr.Len() > 0 {
			tb.Logf("dbus-daemon said:\n%s", stderr.String())
		}
	})
	select {
	case address = <-line:
	case <-time.After(30 * time.Second): // guards against a hang only
		tb.Fatal("dbus-daemon printed no address within 30s")
	}
	if address == "" {
		tb.Fatal("dbus-daemon exited without printing its address")
	}
	return address
}
