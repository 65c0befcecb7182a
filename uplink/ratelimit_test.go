package uplink

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestParseRateLimits(t *testing.T) {
	ws, err := ParseRateLimits(" 10:1, 300:60 ")
	if err != nil || len(ws) != 2 || ws[0] != (RateWindow{10, time.Second}) || ws[1] != (RateWindow{300, time.Minute}) {
		t.Fatalf("got %v, %v", ws, err)
	}
	for _, bad := range []string{"10", "a:1", "10:0", "-1:5", "10:1,x"} {
		if _, err := ParseRateLimits(bad); err == nil {
			t.Errorf("%q parsed without error", bad)
		}
	}
	if ws, err := ParseRateLimits(""); ws != nil || err != nil {
		t.Fatalf("empty: %v %v", ws, err)
	}
	if s := scaleWindows([]RateWindow{{10, time.Second}, {1, time.Second}}); s[0].Cap != 8 || s[1].Cap != 1 {
		t.Fatalf("80%%: %v", s)
	}
}

// Over a long run, a device never gets more than cap per window in any window, and gets close to it.
func TestLimiterObeysEveryWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ws := []RateWindow{{10, time.Second}, {100, 20 * time.Second}}
		l := newLimiter(ws, time.Now())
		start := time.Now()
		var sent []time.Duration
		for time.Since(start) < 2*time.Minute {
			if w := l.wait(1, time.Now()); w > 0 {
				time.Sleep(w)
				continue
			}
			l.take(1)
			sent = append(sent, time.Since(start))
		}
		for _, w := range ws {
			for i := range sent {
				n := 0
				for j := i; j < len(sent) && sent[j]-sent[i] < w.Per; j++ {
					n++
				}
				// A token bucket (like ThingsBoard's) lets a full bucket's burst plus one window's refill through.
				if limit := 2 * w.Cap; n > limit {
					t.Fatalf("window %v: %d sends in one window", w.Per, n)
				}
			}
		}
		// The long window allows 100/20s = 5/s on average; 2 minutes ≈ 600 + the initial burst of 100.
		if len(sent) < 600 || len(sent) > 700 {
			t.Fatalf("%d sends in 2 minutes, want 600..700", len(sent))
		}
	})
}

func TestRateSetBlocksOneDeviceNotOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		spec := rateSpec{telDP: []RateWindow{{5, time.Second}}}
		a, b := newRateSet(spec, time.Now()), newRateSet(spec, time.Now())
		if w := a.reserve(1, 1, 5, time.Now()); w != 0 {
			t.Fatalf("first 5 datapoints must pass, wait %v", w)
		}
		w := a.reserve(1, 1, 1, time.Now())
		if w <= 0 || w > time.Second {
			t.Fatalf("device a over its limit must wait up to 1s, got %v", w)
		}
		if w := b.reserve(1, 1, 5, time.Now()); w != 0 {
			t.Fatalf("device b is independent, wait %v", w)
		}
		time.Sleep(w)
		if w := a.reserve(1, 1, 1, time.Now()); w != 0 {
			t.Fatalf("after the wait device a goes on, wait %v", w)
		}
		a.drain(time.Now())
		if w := a.reserve(0, 0, 1, time.Now()); w <= 0 {
			t.Fatal("a drained set must make the device wait")
		}
		if a.maxDatapoints() != 5 {
			t.Fatalf("max datapoints %d", a.maxDatapoints())
		}
		var none *rateSet
		if none.reserve(100, 100, 100, time.Now()) != 0 || none.maxDatapoints() != 0 {
			t.Fatal("nil set must allow everything")
		}
	})
}

func TestLimiterBigRequestGoesIntoDebt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter([]RateWindow{{10, time.Second}}, time.Now())
		if w := l.wait(25, time.Now()); w != 0 {
			t.Fatalf("a request above the cap passes on a full bucket, wait %v", w)
		}
		l.take(25)
		if w := l.wait(1, time.Now()); w < time.Second {
			t.Fatalf("the debt must be repaid first, wait %v", w)
		}
	})
}
