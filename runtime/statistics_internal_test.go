package runtime

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tbgateway/tbgateway/config"
)

// TestPeriodicSchedule: with a fake clock, statistics go at once and then every period; a send that finds the
// link down is tried again at the next kick (the link came up), and the next period counts from that send; a
// kick after a settings change applies the new period from the last send; disabled, nothing is sent.
func TestPeriodicSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		period, on, up := 60*time.Second, true, false
		var sent []time.Duration
		start := time.Now()
		settings := func() (time.Duration, bool) { mu.Lock(); defer mu.Unlock(); return period, on }
		send := func(context.Context) bool {
			mu.Lock()
			defer mu.Unlock()
			if up {
				sent = append(sent, time.Since(start))
			}
			return up
		}
		kick := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { periodic(ctx, settings, send, kick); close(done) }()
		set := func(f func()) { mu.Lock(); f(); mu.Unlock() }

		time.Sleep(10 * time.Second) // the link is down at the start: nothing sent
		set(func() { up = true })
		kick <- struct{}{} // the link came up at 10 s
		time.Sleep(130 * time.Second)
		synctest.Wait()
		set(func() { period = 30 * time.Second })
		kick <- struct{}{} // at 140 s: 30 s from the send at 130 s
		time.Sleep(60 * time.Second)
		synctest.Wait()
		set(func() { on = false })
		time.Sleep(120 * time.Second)
		synctest.Wait()
		cancel()
		<-done

		want := []time.Duration{10 * time.Second, 70 * time.Second, 130 * time.Second, 160 * time.Second, 190 * time.Second}
		mu.Lock()
		defer mu.Unlock()
		if len(sent) != len(want) {
			t.Fatalf("sent at %v, want %v", sent, want)
		}
		for i := range want {
			if sent[i] != want[i] {
				t.Fatalf("sent at %v, want %v", sent, want)
			}
		}
	})
}

// TestStatisticsCommandsChanged: a pushed statistics section may change the periods and the switches, and
// echo back the commands in force; it may not bring other commands or another commands file.
func TestStatisticsCommandsChanged(t *testing.T) {
	local := &config.Config{StatisticsCommands: []config.StatCommand{{Attribute: "Up", Argv: []string{"uptime"}, Timeout: time.Second}}}
	local.Thingsboard.Statistics.Configuration = "statistics/linux.json"
	g := &Gateway{}
	g.stats.init(local)
	echoed, _ := json.Marshal(g.commandsAttr())
	if string(echoed) != `[{"attributeOnGateway":"Up","command":["uptime"],"timeout":1}]` {
		t.Errorf("general_configuration commands = %s", echoed)
	}
	push := func(conf string, has bool, cmds ...config.StatCommand) *config.Config {
		c := &config.Config{StatisticsCommands: cmds}
		c.Thingsboard.Statistics = config.Statistics{Enable: true, StatsSendPeriodInSeconds: 10, Configuration: conf, HasCommands: has}
		return c
	}
	same := config.StatCommand{Attribute: "Up", Argv: []string{"uptime"}, Timeout: time.Second}
	cases := []struct {
		name string
		next *config.Config
		want bool
	}{
		{"periods only, no commands key", push("statistics/linux.json", false), false},
		{"the commands echoed back", push("statistics/linux.json", true, same), false},
		{"another command", push("statistics/linux.json", true, config.StatCommand{Attribute: "Up", Argv: []string{"rm", "-rf", "/"}, Timeout: time.Second}), true},
		{"a longer timeout", push("statistics/linux.json", true, config.StatCommand{Attribute: "Up", Argv: []string{"uptime"}, Timeout: time.Hour}), true},
		{"commands removed", push("statistics/linux.json", true), true},
		{"another file", push("other.json", false), true},
	}
	for _, c := range cases {
		if got := g.statisticsCommandsChanged(c.next); got != c.want {
			t.Errorf("%s: statisticsCommandsChanged = %v, want %v", c.name, got, c.want)
		}
	}
	// Without a local file, general_configuration shows "statistics.json"; that echoed back is no change.
	g2 := &Gateway{}
	g2.stats.init(&config.Config{})
	if g2.statisticsCommandsChanged(push("statistics.json", true)) || !g2.statisticsCommandsChanged(push("x.json", false)) {
		t.Error("default commands file")
	}
}

// TestParseStatOutput: the Python gateway's float(output), with the output itself as the fallback.
func TestParseStatOutput(t *testing.T) {
	for in, want := range map[string]any{
		"42\n":         json.Number("42.0"),
		" -1.50 ":      json.Number("-1.5"),
		"1e20":         json.Number("1e+20"),
		"0.00001":      json.Number("1e-05"),
		"123456789012": json.Number("123456789012.0"),
		"0x10":         "0x10",
		"nan":          "nan",
		"inf\n":        "inf\n",
		"10.0.0.5 \n":  "10.0.0.5 \n",
		"\n":           "\n",
	} {
		if got := parseStatOutput(in); got != want {
			t.Errorf("parseStatOutput(%q) = %#v, want %#v", in, got, want)
		}
	}
}
