package uplink

import (
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
)

// TestIntegrationRedeliveredBoundedByWindow: with PUBACKs withheld the in-flight window fills; at each drop only
// the records of the messages in flight are counted as redelivered, however many more were taken from storage
// and packed, and a record is counted once per drop. Records here are split over several messages (each value
// alone fills a packet), the case where packed but unsent parts were once counted too.
func TestIntegrationRedeliveredBoundedByWindow(t *testing.T) {
	const window = 4
	emu := startEmu(t)
	h := startLink(t, emu, func(c *Config, cli *Client) {
		if c != nil {
			c.MaxInflight, c.MaxPayloadSize = window, minPacketSize
		}
		if cli != nil {
			cli.sessionLimitsWait = 50 * time.Millisecond // its request's PUBACK is withheld too
		}
	})
	emu.WithholdPubAcks(true)
	big := strings.Repeat("x", 300)
	const records = 60
	var recs []tbgateway.Record
	for i := range records {
		recs = append(recs, tbgateway.Record{Device: "split", Telemetry: []tbgateway.Telemetry{{TS: int64(i + 1),
			Values: map[string]any{"a": big, "b": big, "c": big}}}})
	}
	h.put(recs...)
	received := func() int { return telemetryMessages(emu, "") }
	for drop := range 3 {
		// The window is full when the telemetry messages received since the last drop reach it.
		base := received()
		h.waitFor("a full window", func() bool { return received() >= base+window })
		before := h.cli.Stats().Redelivered
		emu.DropConnections()
		h.awaitEvent(EventDisconnected)
		h.awaitEvent(EventConnected)
		got := h.cli.Stats().Redelivered - before
		// window messages of one part each: at most window records, at least the first message's.
		if got < 1 || got > window {
			t.Fatalf("drop %d: %d records counted as redelivered, want 1..%d (the in-flight window)", drop+1, got, window)
		}
	}
	emu.WithholdPubAcks(false)
	emu.DropConnections() // the withheld messages are never acknowledged; the next connection sends them again
	h.waitFor("every record", func() bool { return h.store.Stats().Count == 0 })
	if n := len(emu.Telemetry("split", "c")); n < records {
		t.Fatalf("%d of %d records arrived", n, records)
	}
}
