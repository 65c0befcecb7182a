package modbus

import (
	"errors"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestLineReconnectSchedule: a line whose device refuses connections tries connectAttemptCount times
// connectAttemptTimeMs apart, then waits waitAfterFailedAttemptsMs, and repeats; before its next attempt is due
// it does not dial at all.
func TestLineReconnectSchedule(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, portText, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close() // nothing listens there now: every dial is refused at once
	port, _ := strconv.Atoi(portText)
	d := &Device{Transport: "tcp", Method: "socket", Host: host, Port: port, Timeout: 5 * time.Second,
		ConnectAttemptTime: 500 * time.Millisecond, ConnectAttempts: 3, WaitAfterFailed: 30 * time.Second}
	l := newLine(d, 1, slog.New(slog.DiscardHandler))
	clock := time.Unix(1_000_000, 0)
	l.now = func() time.Time { return clock }
	l.reconnect.Now = l.now
	l.reconnect.Rand = func() float64 { return 0 } // no jitter: exact delays
	for cycle := range 2 {
		for attempt := 1; attempt <= d.ConnectAttempts; attempt++ {
			err := l.open()
			if err == nil || errors.Is(err, errLineDown) {
				t.Fatalf("cycle %d attempt %d: want a refused connection, got %v", cycle, attempt, err)
			}
			want := d.ConnectAttemptTime
			if attempt == d.ConnectAttempts {
				want = d.WaitAfterFailed
			}
			if got := l.nextConnect.Sub(clock); got != want {
				t.Fatalf("cycle %d attempt %d: next attempt in %v, want %v", cycle, attempt, got, want)
			}
			clock = clock.Add(want - time.Millisecond)
			if err := l.open(); !errors.Is(err, errLineDown) {
				t.Fatalf("cycle %d attempt %d: 1 ms before the next attempt is due, open says %v", cycle, attempt, err)
			}
			clock = clock.Add(time.Millisecond)
		}
	}
}
