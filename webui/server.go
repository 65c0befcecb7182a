// Package webui is the gateway's own web listener. This first part serves what needs no login and shows no
// secrets: /metrics in the Prometheus exposition format (a private registry with the gateway's collector and
// the Go runtime and process collectors), /healthz (the process is up) and /readyz (the gateway is connected
// to ThingsBoard and its storage accepts records). The runtime builds a Server when the main file's
// webUI.enabled is true and supervises its Run like its other services.
package webui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// shutdownTimeout bounds the wait for requests in progress when Run's context ends.
const shutdownTimeout = 5 * time.Second

// Options configure a Server.
type Options struct {
	// Addr is the "host:port" to listen on; port 0 lets the system choose (see Server.Addr).
	Addr string
	// Metrics is the gateway's collector, read at every scrape; nil serves the Go and process metrics only.
	Metrics prometheus.Collector
	// Ready returns nil when the gateway is ready (connected to ThingsBoard, storage writable), else a short
	// reason shown by /readyz (several joined by errors.Join are shown on one line, "; " between them); nil
	// means always ready.
	Ready func() error
	// Logger logs the listener's start and failures; nil discards.
	Logger *slog.Logger
}

// Server serves the web UI's endpoints. Run may be called again after it returned (the runtime restarts a
// failed listener); Addr then reports the new address.
type Server struct {
	opts    Options
	handler http.Handler
	log     *slog.Logger

	mu        sync.Mutex
	addr      net.Addr
	listening chan struct{} // closed once Run first listens
}

// New builds a Server; it does no I/O. It panics only when Options.Metrics collides with the Go or process
// collectors (a programming error).
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if opts.Metrics != nil {
		reg.MustRegister(opts.Metrics)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogErrorLog{log}}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { plain(w, http.StatusOK, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if opts.Ready != nil {
			if err := opts.Ready(); err != nil {
				plain(w, http.StatusServiceUnavailable, "not ready: "+strings.ReplaceAll(err.Error(), "\n", "; "))
				return
			}
		}
		plain(w, http.StatusOK, "ready")
	})
	return &Server{opts: opts, handler: mux, log: log, listening: make(chan struct{})}
}

// Handler returns the endpoints' handler (for tests and for mounting elsewhere).
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on Options.Addr and serves until ctx ends; then it stops accepting, lets requests in progress
// finish (bounded) and returns nil. A listen or serve failure is returned wrapped with the address.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("web UI: listen on %s: %w", s.opts.Addr, err)
	}
	s.mu.Lock()
	s.addr = ln.Addr()
	select {
	case <-s.listening:
	default:
		close(s.listening)
	}
	s.mu.Unlock()
	s.log.Info("web UI listening", "metrics", "http://"+ln.Addr().String()+"/metrics",
		"healthz", "http://"+ln.Addr().String()+"/healthz", "readyz", "http://"+ln.Addr().String()+"/readyz")
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("web UI: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web UI: serve on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Addr waits until Run listens (or ctx ends, returning its error) and returns the address it listens on, with
// the port the system chose for port 0.
func (s *Server) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case <-s.listening:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr, nil
}

// plain writes a short text/plain answer.
func plain(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, text)
}

// slogErrorLog passes promhttp's errors (a collector failing during a scrape) to the logger.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Warn("serving /metrics", "err", fmt.Sprint(v...)) }
