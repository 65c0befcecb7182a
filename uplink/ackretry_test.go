package uplink

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/storage/memory"
	"github.com/tbgateway/tbgateway/tbemu"
)

// failingAck is a memory store whose Ack fails while fail is set; every failed Ack is signalled on failed.
type failingAck struct {
	*memory.Store
	fail   atomic.Bool
	failed chan struct{}
}

func (s *failingAck) Ack(seqs ...uint64) error {
	if s.fail.Load() {
		select {
		case s.failed <- struct{}{}:
		default:
		}
		return errors.New("disk I/O error")
	}
	return s.Store.Ack(seqs...)
}

// telemetryMessages counts the gateway telemetry messages the emulator received: those naming device dev, or all
// of them for "".
func telemetryMessages(emu *tbemu.Server, dev string) int {
	n := 0
	for _, m := range emu.Messages() {
		if m.Topic == topicGwTelemetry && (dev == "" || bytes.Contains(m.Payload, []byte(`"`+dev+`"`))) {
			n++
		}
	}
	return n
}

// A storage Ack that fails is retried while the link is up: once the storage recovers, the records ThingsBoard
// acknowledged are acknowledged to storage, without a reconnect, and are not sent again.
func TestAckRetriedAfterStorageFailure(t *testing.T) {
	emu := startEmu(t)
	var fs *failingAck
	h := startLink(t, emu, func(_ *Config, c *Client) {
		if c != nil {
			fs = &failingAck{Store: c.store.(*memory.Store), failed: make(chan struct{}, 1)}
			c.store = fs
			c.ackRetryPolicy = backoff.Policy{Initial: 1, Max: 1, Jitter: -1} // retry at once: the test waits on events
		}
	})
	before := h.cli.Stats().Reconnects
	fs.fail.Store(true)
	for i := range 20 {
		h.put(telRec("acked", int64(i+1), "v", int64(i)))
	}
	h.waitFor("the records at thingsboard", func() bool { return len(emu.Telemetry("acked", "v")) == 20 })
	for i := range 3 { // the first attempt and two retries
		select {
		case <-fs.failed:
		case <-time.After(waitBound):
			t.Fatalf("%d failed storage Acks, want 3: the Ack is not retried", i)
		}
	}
	if n := h.store.Stats().Count; n != 20 {
		t.Fatalf("%d records stored while their Ack fails, want 20", n)
	}
	sent := telemetryMessages(emu, "acked")
	fs.fail.Store(false)
	h.waitFor("the records acknowledged to storage", func() bool { return h.store.Stats().Count == 0 })
	if st := h.cli.Stats(); st.Reconnects != before || st.Redelivered != 0 || st.Errors < 2 {
		t.Fatalf("stats %+v, want no reconnect, nothing redelivered, the failed Acks counted", st)
	}
	// A new connection does not send them again: only the record put after it arrives.
	emu.DropConnections()
	h.awaitEvent(EventConnected)
	h.put(telRec("acked", 100, "v", int64(100)))
	h.waitFor("the record after the reconnect", func() bool { return len(emu.Telemetry("acked", "v")) == 21 })
	h.waitFor("its acknowledgement", func() bool { return h.store.Stats().Count == 0 })
	if n := telemetryMessages(emu, "acked"); n != sent+1 {
		t.Fatalf("%d telemetry messages after the reconnect, want %d: acknowledged records were sent again", n, sent+1)
	}
}
