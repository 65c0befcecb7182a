package gwtest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/uplink"
)

// StartOptions configure Start.
type StartOptions struct {
	// Runtime are the gateway's options; a nil Logger logs into the Gateway's Log (debug level).
	Runtime runtime.Options
	// Env are environment overrides applied by config.Load (see EmulatorEnv); nil means none.
	Env map[string]string
	// NoWait returns at once instead of waiting for the gateway's first connection to the emulator.
	NoWait bool
}

// Gateway is a gateway running in the test's process.
type Gateway struct {
	// GW is the running gateway: its Stats, Devices and Link.
	GW *runtime.Gateway
	// Config is the loaded configuration; Warnings what loading it warned about.
	Config   *config.Config
	Warnings []config.Warning
	// Log holds the gateway's log lines when StartOptions.Runtime.Logger was nil.
	Log *Log

	t      testingT
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	// exited is closed when Run has returned, with runErr its result.
	exited chan struct{}
	runErr error
}

type testingT interface {
	Helper()
	Errorf(string, ...any)
	Fatalf(string, ...any)
}

// Start loads the configuration in Dir (config.Load, as the tbgateway command does), builds the gateway with
// runtime.New and runs it until Stop or the end of the test; unless NoWait, it returns once the gateway has
// connected to the emulator. A configuration error fails the test.
func (e *Env) Start(opts StartOptions) *Gateway {
	e.T.Helper()
	var env func(string) string
	if opts.Env != nil {
		env = func(k string) string { return opts.Env[k] }
	}
	cfg, warns, err := config.Load(e.Dir, env)
	if err != nil {
		e.T.Fatalf("config.Load: %v", err)
	}
	g := &Gateway{Config: cfg, Warnings: warns, t: e.T, done: make(chan error, 1), exited: make(chan struct{})}
	ro := opts.Runtime
	if ro.Env == nil {
		ro.Env = env
	}
	if ro.Logger == nil {
		g.Log = &Log{changed: make(chan struct{})}
		var w io.Writer = g.Log
		if os.Getenv("E2E_LOG") != "" {
			w = io.MultiWriter(g.Log, os.Stderr)
		}
		ro.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	gw, err := runtime.New(cfg, ro)
	if err != nil {
		e.T.Fatalf("runtime.New: %v", err)
	}
	g.GW = gw
	ctx, cancel := context.WithCancel(e.Ctx)
	g.cancel = cancel
	go func() {
		err := gw.Run(ctx)
		g.runErr = err
		close(g.exited)
		g.done <- err
	}()
	e.T.Cleanup(g.Stop)
	if !opts.NoWait {
		g.WaitEvent(e.Ctx, uplink.EventConnected)
	}
	return g
}

// Stop cancels the gateway's Run and waits for it to return; a Run error fails the test. Idempotent.
func (g *Gateway) Stop() {
	g.once.Do(func() {
		g.cancel()
		if err := <-g.done; err != nil {
			g.t.Errorf("gateway Run returned %v", err)
		}
	})
}

// WaitEvent reads the link's events until one of type typ and returns it; the test fails when ctx ends first, or
// when the gateway's Run returns first (naming its error).
func (g *Gateway) WaitEvent(ctx context.Context, typ uplink.EventType) uplink.Event {
	g.t.Helper()
	for {
		select {
		case ev := <-g.GW.Link().Events():
			if ev.Type == typ {
				return ev
			}
		case <-g.exited:
			g.t.Fatalf("the gateway stopped before a %s event from the link: Run returned %v", typ, g.runErr)
		case <-ctx.Done():
			g.t.Fatalf("no %s event from the link: %v", typ, ctx.Err())
		}
	}
}

// WaitLog waits until a log line holds every one of parts (e.g. a connector's "connected to the broker"); the
// test fails when ctx ends first. It needs the Gateway's Log (StartOptions.Runtime.Logger nil).
func (g *Gateway) WaitLog(ctx context.Context, parts ...string) {
	g.t.Helper()
	if g.Log == nil {
		g.t.Fatalf("WaitLog: the gateway logs to the caller's logger")
	}
	if err := g.Log.Wait(ctx, parts...); err != nil {
		g.t.Fatalf("no log line with %q: %v", parts, err)
	}
}

// Log keeps a gateway's log lines; waiters wake on every line. Safe for concurrent use.
type Log struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
}

// NewLog returns an empty Log, e.g. for a connector's logger in a test (slog.NewTextHandler(log, nil)).
func NewLog() *Log { return &Log{changed: make(chan struct{})} }

// Write implements io.Writer (one call per log line, as slog's handlers write).
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// Lines returns the lines logged so far.
func (l *Log) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// Contains reports whether a line holds every one of parts.
func (l *Log) Contains(parts ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.containsLocked(parts)
}

func (l *Log) containsLocked(parts []string) bool {
	for _, line := range l.lines {
		if holdsAll(line, parts) {
			return true
		}
	}
	return false
}

func holdsAll(line string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(line, p) {
			return false
		}
	}
	return true
}

// Count returns how many lines hold every one of parts (e.g. a state change logged once per episode).
func (l *Log) Count(parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if holdsAll(line, parts) {
			n++
		}
	}
	return n
}

// Reset forgets the lines logged so far.
func (l *Log) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = nil
}

// Wait waits until a line holds every one of parts, or ctx ends (its error is returned).
func (l *Log) Wait(ctx context.Context, parts ...string) error {
	for {
		l.mu.Lock()
		ok, ch := l.containsLocked(parts), l.changed
		l.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
