package gwtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// gatewayPackage is the command a child-process gateway runs: the real entry point, with its flags, logger and
// signal handling.
const gatewayPackage = "github.com/tbgateway/tbgateway/cmd/tbgateway"

// BuildGateway builds the tbgateway command into a temporary folder of t (removed when t ends) and returns the
// binary's path; pass it as ProcessOptions.Binary to start it more than once without building again. The build
// uses the module the test runs in, so a test sees the product code as it is in that tree.
func BuildGateway(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tbgateway")
	if out, err := exec.Command("go", "build", "-o", bin, gatewayPackage).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", gatewayPackage, err, out)
	}
	return bin
}

// ProcessOptions configure StartProcess.
type ProcessOptions struct {
	// Binary is a gateway binary from BuildGateway; empty builds one for this start.
	Binary string
	// LogLevel is the gateway's --log-level; empty means info.
	LogLevel string
}

// Process is a gateway running as the tbgateway command in a child process, so that a test can SIGKILL it. Its
// stderr (the log, text format) is kept in Log; it is killed when the test ends, and its log is written to the
// test's output then if the test failed.
type Process struct {
	// Log holds the gateway's log lines; Log.Wait wakes on each one.
	Log *Log

	t    *testing.T
	cmd  *exec.Cmd
	done chan struct{} // closed once the process exited and its log is read
	err  error         // the exit status; set before done closes
}

// StartProcess starts the tbgateway command on the configuration folder dir (--config dir) and returns at once.
func StartProcess(t *testing.T, dir string, opts ProcessOptions) *Process {
	t.Helper()
	bin := opts.Binary
	if bin == "" {
		bin = BuildGateway(t)
	}
	level := opts.LogLevel
	if level == "" {
		level = "info"
	}
	p := &Process{Log: &Log{changed: make(chan struct{})}, t: t, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "--config", dir, "--log-level", level)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start the gateway process: %v", err)
	}
	go func() {
		p.read(stderr)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("log of the gateway process (%s):\n%s", p.cmd, strings.Join(p.Log.Lines(), "\n"))
		}
	})
	return p
}

func (p *Process) read(r io.Reader) {
	echo := os.Getenv("E2E_LOG") != ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if echo {
			fmt.Fprintln(os.Stderr, line)
		}
		_, _ = p.Log.Write([]byte(line))
	}
	_, _ = io.Copy(io.Discard, r) // a line over the limit: keep the pipe drained so the gateway never blocks
}

// WaitLog waits until the gateway logged a line holding every one of parts. The test fails when ctx ends or the
// process exits first.
func (p *Process) WaitLog(ctx context.Context, parts ...string) {
	p.t.Helper()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-wctx.Done():
		}
	}()
	if err := p.Log.Wait(wctx, parts...); err != nil {
		if ctx.Err() == nil {
			p.t.Fatalf("the gateway process exited (%v) before logging %q", p.err, parts)
		}
		p.t.Fatalf("waiting for the gateway process to log %q: %v", parts, ctx.Err())
	}
}

// Kill sends SIGKILL and waits until the process is gone. The test fails when the process had exited already:
// a kill test must hit a running gateway.
func (p *Process) Kill() {
	p.t.Helper()
	select {
	case <-p.done:
		p.t.Fatalf("the gateway process exited (%v) before it was killed", p.err)
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("kill the gateway process: %v", err)
	}
	<-p.done
}

// Stop sends SIGTERM and waits for the process to exit, returning its exit status (nil for a clean stop). When
// ctx ends first the process is killed and ctx's error returned.
func (p *Process) Stop(ctx context.Context) error {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		p.signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("stop the gateway process: %w", ctx.Err())
	}
}

// Exited returns a channel closed once the process exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Signal sends sig (SIGHUP, ...) to the gateway process unless it is gone.
func (p *Process) Signal(sig os.Signal) { p.signal(sig) }

// signal sends sig unless the process is gone.
func (p *Process) signal(sig os.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Logf("signal %v to the gateway process: %v", sig, err)
	}
}
