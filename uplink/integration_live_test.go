package uplink

import (
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/tbemu"
)

// With live-first, telemetry produced after a reconnect overtakes the backlog of its own device, which its rate
// limit holds back; nothing is refused and the backlog still arrives whole, in order.
func TestIntegrationLiveFirstOvertakesRateLimitedBacklog(t *testing.T) {
	emu := startEmu(t)
	emu.SetRateLimits(tbemu.RateLimits{}, tbemu.RateLimits{TelemetryDataPoints: "20:1"})
	h := startLink(t, emu, func(c *Config, _ *Client) {
		if c != nil {
			c.LiveFirst = true
		}
	})
	emu.RefuseConnections(time.Hour)
	emu.DropConnections()
	h.awaitEvent(EventDisconnected)
	const backlog = 100
	for i := range backlog {
		h.put(telRec("slow", int64(i+1), "v", int64(i)))
	}
	emu.RefuseConnections(0)
	h.awaitEvent(EventConnected)
	h.put(telRec("slow", 10_000, "v", int64(-1)))
	h.waitFor("the live record", func() bool {
		for _, v := range emu.Telemetry("slow", "v") {
			if v.TS == 10_000 {
				return true
			}
		}
		return false
	})
	if n := len(emu.Telemetry("slow", "v")); n > backlog {
		t.Fatalf("the live record arrived after the whole backlog (%d values)", n)
	}
	h.waitFor("the backlog", func() bool { return len(emu.Telemetry("slow", "v")) == backlog+1 })
	for i, v := range emu.Telemetry("slow", "v")[:backlog] {
		if v.TS != int64(i+1) {
			t.Fatalf("backlog order broken at %d: ts %d", i, v.TS)
		}
	}
	for _, m := range emu.Messages() {
		if m.Reason >= 0x80 {
			t.Fatalf("thingsboard refused a message: 0x%02x on %s", m.Reason, m.Topic)
		}
	}
	if st := h.cli.Stats(); st.RateLimited != 0 {
		t.Fatalf("stats %+v", st)
	}
}
