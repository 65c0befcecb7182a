// Package opcuapeer runs the node-opcua test server (server.js in this folder) as a child process, for the
// OPC-UA connector's tests and benchmark. Install the peer with scripts/install-opcua-peer.sh.
package opcuapeer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// ErrMissing is wrapped by Start when Node or node-opcua is not installed.
var ErrMissing = errors.New("node-opcua test peer not installed (run scripts/install-opcua-peer.sh or make test-deps)")

// Dir returns the folder holding server.js and node_modules (this source file's folder).
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Options configure one server process.
type Options struct {
	// NodeMap is the node map JSON file (see server.js).
	NodeMap string
	// PKIDir is the server's own PKI folder; give each server its own (restarts may reuse it).
	PKIDir string
	// Port is the TCP port; "" or "0" picks a free one.
	Port string
	// Stderr receives the server's error output (nil discards it).
	Stderr io.Writer
}

// Peer is a running server.
type Peer struct {
	// URL is the endpoint the server printed on its READY line.
	URL string
	// Port is the port it listens on (kept by Restart).
	Port string

	opts Options
	cmd  *exec.Cmd
	done chan struct{}
}

// Start launches the server and waits (bounded by ctx) for its READY line.
func Start(ctx context.Context, opts Options) (*Peer, error) {
	p := &Peer{opts: opts, Port: opts.Port}
	if err := p.start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// Installed reports whether the Node binary and node-opcua are present.
func Installed() bool {
	_, errNode := os.Stat(filepath.Join(Dir(), "node_modules", ".bin", "node"))
	_, errLib := os.Stat(filepath.Join(Dir(), "node_modules", "node-opcua", "package.json"))
	return errNode == nil && errLib == nil
}

func (p *Peer) start(ctx context.Context) error {
	if !Installed() {
		return ErrMissing
	}
	port := p.Port
	if port == "" {
		port = "0"
	}
	cmd := exec.Command(filepath.Join(Dir(), "node_modules", ".bin", "node"), filepath.Join(Dir(), "server.js"), port, p.opts.NodeMap, p.opts.PKIDir)
	cmd.Stderr = p.opts.Stderr
	// A test binary killed by go test's -timeout must not leave the server running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start node-opcua peer: %w", err)
	}
	ready := make(chan string, 1)
	p.cmd, p.done = cmd, make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- u
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case u := <-ready:
		p.URL = u
		if pu, err := url.Parse(u); err == nil {
			p.Port = pu.Port()
		}
		return nil
	case <-p.done:
		p.cmd = nil
		return errors.New("node-opcua peer exited before READY")
	case <-ctx.Done():
		p.Stop()
		return fmt.Errorf("node-opcua peer: no READY line: %w", ctx.Err())
	}
}

// PID returns the server's process id (0 when stopped).
func (p *Peer) PID() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stop sends SIGTERM and waits for the process to exit (killing it after 20 s). Stop is idempotent.
func (p *Peer) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// Restart stops the server and starts it again on the same port with the same PKI folder.
func (p *Peer) Restart(ctx context.Context) error {
	p.Stop()
	return p.start(ctx)
}
