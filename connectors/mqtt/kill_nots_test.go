package mqtt_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/storage/file"
	"github.com/tbgateway/tbgateway/tbemu"
)

// TestKillKeepsStampsDistinct is TestKillRedelivers for a device that sends no timestamps: the gateway stamps a
// burst of more than one message per millisecond, is killed (SIGKILL) and started again at once. The burst
// pushed the stamps ahead of the clock; the restarted gateway must stamp the messages the broker redelivers above
// all of them, or ThingsBoard (which keys telemetry by key and ts) overwrites one message with another. Every
// message must be at ThingsBoard, each under its own timestamp.
func TestKillKeepsStampsDistinct(t *testing.T) {
	const (
		files, perFile = 1, file.MinRecordsPerSegment
		n              = files*perFile + 500
		marker         = n + 1
		clientID       = "gw-kill-nots"
		token          = "kill-nots-gateway-token"
	)
	b := startMosquitto(t)
	ge := gwtest.New(t, gwtest.Options{Timeout: testTimeout})
	ctx, emu := ge.Ctx, ge.Emu
	conf := map[string]any{
		"broker": map[string]any{"host": "127.0.0.1", "port": b.port, "version": 4, "clientId": clientID,
			"cleanSession": false, "reconnectMaxDelaySeconds": 1},
		"mapping": []any{map[string]any{"topicFilter": "kill/+", "subscriptionQos": 1, "converter": map[string]any{
			"type":       "json",
			"deviceInfo": map[string]any{"deviceNameExpressionSource": "constant", "deviceNameExpression": "KILL"},
			"timeseries": []any{map[string]any{"key": "seq", "type": "int", "value": "${seq}"}},
		}}},
	}
	// tbemu does not know the gateway's token yet: the uplink is refused and the storage only fills.
	bin, gw := startUnauthorizedGateway(t, ge, conf, files, perFile, token, clientID)
	dev := newDevice(t, b, "kill-nots-device")
	ts0 := time.Now().UnixMilli()
	for seq := 1; seq <= n; seq++ {
		dev.publish("kill/1", map[string]any{"seq": seq}) // no "ts": the gateway stamps every message
	}
	gw.WaitLog(ctx, "cannot store records")
	gw.Kill()
	// The marker carries a timestamp below every stamp the gateway gave (they are all at or after ts0).
	held := heldBySession(ctx, t, b, clientID, dev, marker, ts0-1)
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "Kill Gateway", Type: "gateway", Gateway: true, Token: token}); err != nil {
		t.Fatal(err)
	}
	gwtest.StartProcess(t, ge.Dir, gwtest.ProcessOptions{Binary: bin})
	if err := emu.WaitFor(ctx, func() bool { return seen(emu)[marker] }); err != nil {
		t.Fatalf("waiting for the message published after the kill: %v", err)
	}
	pts := emu.Telemetry("KILL", "seq")
	got := seen(emu)
	var missing []int
	for seq := 1; seq <= n; seq++ {
		if !got[int64(seq)] {
			missing = append(missing, seq)
		}
	}
	if len(missing) > 0 {
		first := fmt.Sprint(missing)
		if len(missing) > 10 {
			first = fmt.Sprint(missing[:10]) + "..."
		}
		t.Fatalf("%d of %d messages are not at ThingsBoard under a timestamp of their own: the restarted gateway "+
			"stamped messages with timestamps it had given out before the kill, and one overwrote the other (missing %s; %d held by the broker at the kill; %d points)",
			len(missing), n, first, held, len(pts))
	}
	t.Logf("%d messages; %d held unacknowledged by the broker at the kill; %d points at tbemu", n+1, held, len(pts))
}
