package mqtt_test

// A gateway in its own process, so that a test can SIGKILL it: the test binary re-executes itself with
// childGatewayEnv naming a config folder, and TestMain runs a whole gateway from it instead of the tests.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/runtime"
)

// childGatewayEnv names the config folder of a gateway the test binary runs instead of its tests.
const childGatewayEnv = "TBGW_MQTT_TEST_GATEWAY_DIR"

// runChildGateway runs a gateway from dir until SIGTERM or SIGINT, logging to stderr at Info; it returns the
// process's exit code.
func runChildGateway(dir string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, warnings, err := config.Load(dir, nil)
	if err != nil {
		log.Error("config", "err", err)
		return 2
	}
	for _, w := range warnings {
		log.Warn("config", "warning", w.String())
	}
	gw, err := runtime.New(cfg, runtime.Options{Logger: log})
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := gw.Run(ctx); err != nil {
		log.Error("run", "err", err)
		return 1
	}
	return 0
}

// gatewayProcess is a gateway running in a child process, with its log lines kept for the test.
type gatewayProcess struct {
	t    *testing.T
	cmd  *exec.Cmd
	done chan struct{} // closed once the process exited and its log is read

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on every new line
}

// startGatewayProcess runs the gateway of the config folder dir in a child process; it is killed when the test
// ends.
func startGatewayProcess(t *testing.T, dir string) *gatewayProcess {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &gatewayProcess{t: t, done: make(chan struct{}), changed: make(chan struct{})}
	p.cmd = exec.Command(exe, "-test.run=^$")
	p.cmd.Env = append(os.Environ(), childGatewayEnv+"="+dir)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start the gateway process: %v", err)
	}
	go func() {
		p.read(stderr)
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.kill)
	return p
}

func (p *gatewayProcess) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if os.Getenv("E2E_LOG") != "" {
			fmt.Fprintln(os.Stderr, line)
		}
		p.mu.Lock()
		p.lines = append(p.lines, line)
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
}

// waitLog waits until the gateway logged a line holding every one of parts. It fails the test when ctx ends or
// the process exits first.
func (p *gatewayProcess) waitLog(ctx context.Context, parts ...string) {
	p.t.Helper()
	for {
		p.mu.Lock()
		changed := p.changed
		for _, line := range p.lines {
			ok := true
			for _, s := range parts {
				ok = ok && strings.Contains(line, s)
			}
			if ok {
				p.mu.Unlock()
				return
			}
		}
		p.mu.Unlock()
		select {
		case <-changed:
		case <-p.done:
			p.t.Fatalf("the gateway process exited before logging %q:\n%s", parts, p.log())
		case <-ctx.Done():
			p.t.Fatalf("waiting for the gateway to log %q: %v\n%s", parts, ctx.Err(), p.log())
		}
	}
}

// log returns every line the gateway logged so far.
func (p *gatewayProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// kill sends SIGKILL and waits for the process to be gone (idempotent).
func (p *gatewayProcess) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}
