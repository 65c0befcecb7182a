package runtime

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/report"
)

// TestActivityChecksSchedule: with a timeout of 5 s checked every second, a device that sends data at 0 s and
// 3 s is disconnected at the first check at or after 8 s, once; its next data connects it again.
func TestActivityChecksSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink, store, _ := sinkGatewayClock(t, report.Strategy{Type: report.OnReceived}, time.Now())
		g := sink.g
		g.now = time.Now
		cfg := &config.Config{}
		cfg.Thingsboard.CheckingDeviceActivity = config.CheckingDeviceActivity{CheckDeviceInactivity: true,
			InactivityTimeoutSeconds: 5, InactivityCheckPeriodSeconds: 1}
		g.cfg.Store(cfg)
		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = g.runActivityChecks(ctx)
		}()
		send := func(v float64) {
			t.Helper()
			if err := sink.Send(ctx, reading("boiler", v)); err != nil {
				t.Fatal(err)
			}
		}
		disconnects := func() (n int) {
			for _, r := range store.stored(t) {
				if r.Kind == tbgateway.KindDisconnect {
					n++
				}
			}
			return n
		}
		send(1)
		store.stored(t)
		time.Sleep(3 * time.Second)
		send(2)
		// Checks run at 4 s .. 7 s: the device was heard 1 to 4 s ago.
		time.Sleep(4*time.Second + 500*time.Millisecond)
		synctest.Wait()
		if n := disconnects(); n != 0 {
			t.Fatalf("%d disconnects by %v, want none (last data at 3 s, timeout 5 s)", n, time.Since(start))
		}
		time.Sleep(time.Second) // the check at 8 s
		synctest.Wait()
		if n := disconnects(); n != 1 {
			t.Fatalf("%d disconnects by %v, want one", n, time.Since(start))
		}
		if d, _ := g.devices.Owner("boiler"); !d.Disconnected {
			t.Fatal("the device table does not mark the inactive device disconnected")
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := disconnects(); n != 0 {
			t.Fatalf("%d more disconnects of a device already disconnected", n)
		}
		send(3)
		got := store.stored(t)
		if len(got) != 3 || got[0].Kind != tbgateway.KindConnect || got[1].Attributes["connectorName"] != "c" || got[2].Kind != tbgateway.KindData {
			t.Fatalf("after the disconnect the next data stored %+v, want connect, connector details, data", got)
		}
		cancel()
		<-done
	})
}
