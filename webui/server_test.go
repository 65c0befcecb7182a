package webui_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/tbgateway/tbgateway/webui"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// get fetches url and returns its status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// TestServerEndpoints: Run listens on a free loopback port (Addr reports it), /healthz answers 200, /readyz
// answers 200 or 503 with Ready's reason as Ready says at each request, /metrics carries the given collector
// and the Go and process collectors, and Run returns nil when its context ends.
func TestServerEndpoints(t *testing.T) {
	ready := make(chan error, 1)
	ready <- nil
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_value", Help: "A test value."})
	g.Set(42)
	s := webui.New(webui.Options{Addr: "127.0.0.1:0", Metrics: g, Ready: func() error {
		err := <-ready
		ready <- err
		return err
	}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	addr, err := s.Addr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String()

	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz while ready: %d %q", code, body)
	}
	<-ready
	ready <- errors.New("not connected to ThingsBoard")
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || body != "not ready: not connected to ThingsBoard\n" {
		t.Errorf("/readyz while not ready: %d %q", code, body)
	}
	fams := scrape(t, base)
	if v := value(t, fams, "test_value", nil); v != 42 {
		t.Errorf("test_value = %v, want 42", v)
	}
	for _, f := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_start_time_seconds"} {
		if _, ok := fams[f]; !ok {
			t.Errorf("/metrics has no family %s", f)
		}
	}
	if code, _ := get(t, base+"/other"); code != http.StatusNotFound {
		t.Errorf("/other: %d, want 404", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestServerListenError: a listen failure is Run's error, naming the address.
func TestServerListenError(t *testing.T) {
	err := webui.New(webui.Options{Addr: "127.0.0.1:99999"}).Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "web UI: listen on 127.0.0.1:99999") {
		t.Errorf("Run: %v", err)
	}
}
