package runtime

import (
	"context"
	"encoding/json"
	"testing"
	"testing/synctest"
	"time"
)

func TestRPCDeviceWaitParams(t *testing.T) {
	cases := []struct {
		params string
		want   time.Duration
	}{
		{``, DefaultRPCDeviceWait},
		{`null`, DefaultRPCDeviceWait},
		{`"text"`, DefaultRPCDeviceWait},
		{`{}`, DefaultRPCDeviceWait},
		{`{"timeout": 2}`, 2 * time.Second},
		{`{"timeout": 0.5}`, 500 * time.Millisecond},
		{`{"timeout": 0}`, DefaultRPCDeviceWait},
		{`{"timeout": -3}`, DefaultRPCDeviceWait},
		{`{"timeout": "7"}`, DefaultRPCDeviceWait},
		{`{"timeout": 3600}`, MaxRPCDeviceWait},
		{`{"timeout": 1e308}`, MaxRPCDeviceWait},
	}
	for _, c := range cases {
		if got := rpcDeviceWait(json.RawMessage(c.params)); got != c.want {
			t.Errorf("rpcDeviceWait(%s) = %v, want %v", c.params, got, c.want)
		}
	}
}

// TestWaitForDeviceSchedule: a call waits until the device is registered, or exactly its wait when it never is.
func TestWaitForDeviceSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		devices, err := OpenDeviceTable("")
		if err != nil {
			t.Fatal(err)
		}
		g := &Gateway{devices: devices}
		ctx := context.Background()

		start := time.Now()
		if _, ok := g.waitForDevice(ctx, "never", 5*time.Second); ok {
			t.Fatal("a device that never appears was found")
		}
		if waited := time.Since(start); waited != 5*time.Second {
			t.Fatalf("waited %v for a device that never appears, want 5s", waited)
		}

		start = time.Now()
		go func() {
			time.Sleep(2 * time.Second)
			tx := devices.Begin()
			tx.Register("other", "default", "c", "test")
			_ = tx.Commit()
			time.Sleep(time.Second)
			tx = devices.Begin()
			tx.Register("late", "default", "c", "test")
			tx.Stage() // visible while its records are stored
		}()
		d, ok := g.waitForDevice(ctx, "late", 5*time.Second)
		if !ok || d.ConnectorName != "c" {
			t.Fatalf("waitForDevice = %+v, %v; want the device of connector c", d, ok)
		}
		if waited := time.Since(start); waited != 3*time.Second {
			t.Fatalf("the device appeared at 3s, the wait ended at %v", waited)
		}
	})
}
