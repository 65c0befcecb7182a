package opcua

// Test helpers: the node-opcua peer (testpeers/opcua/server.js) started on a free port, and the kit's recording
// sink with the waits these tests use.

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/connectortest"
	opcuapeer "github.com/tbgateway/tbgateway/testpeers/opcua"
)

// testTimeout bounds every test against the peer; a failure bound, never a pacing.
const testTimeout = 90 * time.Second

// peer is one node-opcua server process of a test.
type peer struct {
	t *testing.T
	*opcuapeer.Peer
}

// startPeer starts the server with the node map file (relative to testdata) on a free port and stops it at
// cleanup. A missing peer fails the test under CI=true and skips it otherwise.
func startPeer(t *testing.T, nodemap string) *peer {
	t.Helper()
	return startPeerWith(t, nodemap, nil)
}

// startPeerWith is startPeer with the server's endpoints and user checks from sec (nil: the defaults).
func startPeerWith(t *testing.T, nodemap string, sec *opcuapeer.Security) *peer {
	t.Helper()
	if !opcuapeer.Installed() {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v", opcuapeer.ErrMissing)
		}
		t.Skip("node-opcua test peer missing: install with make test-deps")
	}
	abs, err := filepath.Abs(filepath.Join("testdata", nodemap))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p, err := opcuapeer.Start(ctx, opcuapeer.Options{NodeMap: abs, PKIDir: t.TempDir(), Stderr: os.Stderr, Security: sec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return &peer{t: t, Peer: p}
}

// restart stops the server and starts it again on the same port with the same PKI folder.
func (p *peer) restart() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := p.Restart(ctx); err != nil {
		p.t.Fatal(err)
	}
}

// recSink is the kit's recording Sink with the waits these tests use.
type recSink struct{ *connectortest.Sink }

func newSink() *recSink { return &recSink{connectortest.NewSink()} }

func testLogger() *slog.Logger {
	if os.Getenv("OPCUA_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// latestOf returns the last value of every key of a device (attributes and telemetry) among recs and how many
// data records arrived for it, plus its connect/disconnect count.
func latestOf(recs []tbgateway.Record, device string) (vals map[string]any, data, connects, disconnects int) {
	vals = map[string]any{}
	for _, r := range recs {
		if r.Device != device {
			continue
		}
		switch r.Kind {
		case tbgateway.KindConnect:
			connects++
		case tbgateway.KindDisconnect:
			disconnects++
		default:
			data++
		}
		for k, v := range r.Attributes {
			vals[k] = v
		}
		for _, t := range r.Telemetry {
			for k, v := range t.Values {
				vals[k] = v
			}
		}
	}
	return
}

// waitFor waits until cond holds for the stored records (checked after every Send); ctx bounds it. cond runs
// with the sink locked and must not call it.
func (s *recSink) waitFor(t *testing.T, ctx context.Context, what string, cond func(recs []tbgateway.Record) bool) {
	t.Helper()
	err := s.Await(ctx, func(stored []tbgateway.Record, _ []connectortest.Attempt, _ int) bool { return cond(stored) })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// runConnector builds the connector from a config and runs it until the test ends.
func runConnector(t *testing.T, ctx context.Context, cfg *Config, sink tbgateway.Sink) *Connector {
	t.Helper()
	c, err := New("OPC-UA", cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	runUntilEnd(t, ctx, c, sink)
	return c
}

// runUntilEnd runs c until the test ends; Run must then return nil.
func runUntilEnd(t *testing.T, ctx context.Context, c *Connector, sink tbgateway.Sink) {
	t.Helper()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(rctx, sink) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// corpusConfig loads a corpus connector file (remote-configuration shape) from testdata and points it at url.
func corpusConfig(t *testing.T, file, endpoint string) *Config {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var outer map[string]struct {
		ConfigurationJSON json.RawMessage `json:"configurationJson"`
	}
	if err := json.Unmarshal(raw, &outer); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, v := range outer {
		raw = v.ConfigurationJSON
	}
	cfg, warnings, err := Decode(file, raw)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(warnings) > 0 {
		t.Fatalf("%s: warnings %v", file, warnings)
	}
	cfg.Server.URL = endpoint
	// The corpus names Basic128Rsa15 (deprecated, not offered by the peer): run it with policy None.
	cfg.Server.Security = "None"
	return cfg
}

// testContext returns a context bounded by testTimeout, cancelled at the end of the test.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}
