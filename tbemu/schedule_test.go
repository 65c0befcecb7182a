package tbemu

import (
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// bareServer is a Server without listeners, enough for its background loops (run in a synctest bubble).
func bareServer(opts Options) *Server {
	opts.setDefaults()
	return &Server{opts: opts, log: slog.New(slog.DiscardHandler), done: make(chan struct{}),
		sessions: map[*mqtt.Client]*session{}, changed: make(chan struct{})}
}

// The expiry runs every quarter of the inactivity timeout (at most every 3 s): a sub-device idle since t0 is
// kept through t0+timeout and dropped at the first check after it.
func TestExpireLoopSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := bareServer(Options{InactivityTimeout: 8 * time.Second})
		t0 := time.Now()
		a := &device{spec: DeviceSpec{Name: "A"}, lastActivity: t0}
		// The gateway's own connection is never idle here: its last packet is in the future.
		ss := &session{lastSeen: t0.Add(time.Hour), subDevs: map[string]*device{"A": a}}
		a.owner = ss
		s.sessions[&mqtt.Client{}] = ss
		held := func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return ss.subDevs["A"] != nil
		}
		done := make(chan struct{})
		go func() { s.expireLoop(); close(done) }()
		defer func() { close(s.done); <-done }()

		time.Sleep(8 * time.Second) // the check at t0+8s: idle exactly the timeout, kept
		synctest.Wait()
		if !held() {
			t.Fatal("A dropped before its inactivity timeout")
		}
		time.Sleep(2 * time.Second) // the next check, a quarter of the timeout later
		synctest.Wait()
		if held() {
			t.Fatal("A kept a quarter of the timeout after its inactivity timeout")
		}
		if a.owner != nil || !a.lastDisconnect.Equal(t0.Add(10*time.Second)) {
			t.Fatalf("A owner %v, last disconnect %v, want none and %v", a.owner, a.lastDisconnect, t0.Add(10*time.Second))
		}
	})
}

// gatewayMetrics is written once per GatewayMetricsInterval, stamped with the time of the report.
func TestGatewayMetricsSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := bareServer(Options{GatewayMetricsInterval: time.Minute})
		t0 := time.Now()
		gw := newDevice(DeviceSpec{Name: "gw", Gateway: true})
		ss := &session{dev: gw}
		s.sessions[&mqtt.Client{}] = ss
		record := func() {
			s.mu.Lock()
			ss.recordMetrics([]metadata{{connector: []byte("mb"), receivedTs: 1, published: 2}}, 3)
			s.mu.Unlock()
		}
		reports := func() []int64 {
			s.mu.Lock()
			defer s.mu.Unlock()
			var ts []int64
			if sr := gw.series["gatewayMetrics"]; sr != nil {
				for _, p := range sr.pts[sr.start:] {
					ts = append(ts, p.ts)
				}
			}
			return ts
		}
		record()
		done := make(chan struct{})
		go func() { s.reportGatewayMetricsLoop(); close(done) }()
		defer func() { close(s.done); <-done }()

		time.Sleep(time.Minute - time.Millisecond)
		synctest.Wait()
		if r := reports(); len(r) != 0 {
			t.Fatalf("reported before the interval: %v", r)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		record()
		time.Sleep(time.Minute)
		synctest.Wait()
		want := []int64{t0.Add(time.Minute).UnixMilli(), t0.Add(2 * time.Minute).UnixMilli()}
		if r := reports(); len(r) != 2 || r[0] != want[0] || r[1] != want[1] {
			t.Fatalf("reports at %v, want %v", r, want)
		}
	})
}
