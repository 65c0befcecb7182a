// Package opcuapeer runs the node-opcua test server (server.js in this folder) as a child process, for the
// OPC-UA connector's tests and benchmark. Install the peer with scripts/install-opcua-peer.sh.
package opcuapeer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
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
	// Security, when set, replaces the default endpoints (None and Basic256Sha256/SignAndEncrypt, anonymous
	// allowed) with its own.
	Security *Security
}

// Security configures the server's endpoints and user checks (the security file of server.js).
type Security struct {
	// Policies are the node-opcua SecurityPolicy names offered (e.g. "Basic256", "Aes256_Sha256_RsaPss").
	Policies []string `json:"policies"`
	// Modes are the message security modes offered ("None", "Sign", "SignAndEncrypt"); without "None" the
	// None endpoint serves discovery only, never a session.
	Modes []string `json:"modes"`
	// AllowAnonymous offers the anonymous user token.
	AllowAnonymous bool `json:"allowAnonymous"`
	// TrustedUserCerts are certificate files (PEM or DER) accepted as X.509 user identity tokens; every other
	// user certificate is rejected with BadIdentityTokenRejected.
	TrustedUserCerts []string `json:"trustedUserCerts"`
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

	mu       sync.Mutex
	sessions []Session
	changed  chan struct{} // closed and replaced when a session is added
}

// Session is one session the server activated (reported only when Options.Security is set).
type Session struct {
	// Policy is the channel's security policy name ("None", "Basic256", ...), Mode its message security mode.
	Policy string `json:"policy"`
	Mode   string `json:"mode"`
	// User is the user identity token's type: "AnonymousIdentityToken", "UserNameIdentityToken",
	// "X509IdentityToken".
	User string `json:"user"`
	// Client is the client's application URI.
	Client string `json:"client"`
}

// SessionCount returns how many sessions the server has activated so far (reported only when Options.Security
// is set).
func (p *Peer) SessionCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sessions)
}

// WaitSession waits (bounded by ctx) until the server has activated session number i (0 is the first one) and
// returns it.
func (p *Peer) WaitSession(ctx context.Context, i int) (Session, error) {
	for {
		p.mu.Lock()
		if i < len(p.sessions) {
			s := p.sessions[i]
			p.mu.Unlock()
			return s, nil
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Session{}, fmt.Errorf("node-opcua peer: no session number %d: %w", i, ctx.Err())
		}
	}
}

func (p *Peer) addSession(line string) {
	var s Session
	if json.Unmarshal([]byte(line), &s) != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sessions = append(p.sessions, s)
	close(p.changed)
	p.changed = make(chan struct{})
}

// Start launches the server and waits (bounded by ctx) for its READY line.
func Start(ctx context.Context, opts Options) (*Peer, error) {
	p := &Peer{opts: opts, Port: opts.Port, changed: make(chan struct{})}
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
	args := []string{filepath.Join(Dir(), "server.js"), port, p.opts.NodeMap, p.opts.PKIDir}
	if p.opts.Security != nil {
		file, err := writeSecurity(p.opts.PKIDir, p.opts.Security)
		if err != nil {
			return err
		}
		args = append(args, file)
	}
	cmd := exec.Command(filepath.Join(Dir(), "node_modules", ".bin", "node"), args...)
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
			} else if s, ok := strings.CutPrefix(sc.Text(), "SESSION "); ok {
				p.addSession(s)
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

// writeSecurity writes the security file server.js reads into the PKI folder.
func writeSecurity(dir string, sec *Security) (string, error) {
	b, err := json.Marshal(sec)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	file := filepath.Join(dir, "security.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return "", fmt.Errorf("node-opcua peer security file: %w", err)
	}
	return file, nil
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
