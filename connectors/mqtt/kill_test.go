package mqtt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/tbgateway/tbgateway/connectors/mqtt"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/storage/file"
	"github.com/tbgateway/tbgateway/tbemu"
)

// TestKillRedelivers kills the gateway (SIGKILL, in its own process) while mosquitto holds QoS 1 messages of the
// connector's persistent session that the gateway has not acknowledged, then starts the gateway again on the same
// durable storage: every message the device published reaches ThingsBoard. The messages stay unacknowledged
// because the storage is full (ThingsBoard refuses the gateway until the restart, so nothing drains it): the
// connector must hold them at the broker, not acknowledge them on receipt, or the broker discards them and the
// kill loses them.
func TestKillRedelivers(t *testing.T) {
	for _, version := range []int{4, 5} {
		t.Run(fmt.Sprintf("version%d", version), func(t *testing.T) { testKillRedelivers(t, version) })
	}
}

func testKillRedelivers(t *testing.T, version int) {
	const (
		// The storage holds one file of the fewest records a file may hold; the device publishes more than that,
		// so a call to store is refused and retried.
		files, perFile = 1, file.MinRecordsPerSegment
		n              = files*perFile + 500
		// marker is published after the kill. The broker delivers the session's messages in order, the connector
		// stores them in order and the uplink (liveFirst off) sends storage in order: once the marker is at
		// ThingsBoard, everything that is coming has come.
		marker = n + 1
	)
	b := startMosquitto(t)
	ge := gwtest.New(t, gwtest.Options{Timeout: testTimeout})
	ctx, emu := ge.Ctx, ge.Emu

	clientID := fmt.Sprintf("gw-kill-v%d", version)
	conf := map[string]any{
		"broker": map[string]any{"host": "127.0.0.1", "port": b.port, "version": version, "clientId": clientID,
			"cleanSession": false, "cleanStart": false, "sessionExpiryInterval": 3600, "reconnectMaxDelaySeconds": 1},
		"mapping": []any{map[string]any{"topicFilter": "kill/+", "subscriptionQos": 1, "converter": map[string]any{
			"type":       "json",
			"deviceInfo": map[string]any{"deviceNameExpressionSource": "constant", "deviceNameExpression": "KILL"},
			"timeseries": []any{map[string]any{"key": "seq", "type": "int", "value": "${seq}"}},
		}}},
	}
	// tbemu does not know the gateway's token yet: the uplink is refused and the storage only fills.
	const token = "kill-gateway-token"
	bin, gw := startUnauthorizedGateway(t, ge, conf, files, perFile, token, clientID)
	dev := newDevice(t, b, "kill-device")
	// The device stamps its messages, one millisecond apart, so that no two of them share a timestamp at
	// ThingsBoard whatever the gateway's clock does across the restart.
	ts0 := time.Now().UnixMilli()
	for seq := 1; seq <= n; seq++ {
		dev.publish("kill/1", map[string]any{"seq": seq, "ts": ts0 + int64(seq)})
	}
	gw.WaitLog(ctx, "cannot store records")
	gw.Kill()

	held := heldBySession(ctx, t, b, clientID, dev, marker, ts0+marker)
	if held == 0 {
		t.Fatalf("the broker held no unacknowledged message for %s at the kill, though the storage was full: "+
			"the connector acknowledged messages it had not stored", clientID)
	}

	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "Kill Gateway", Type: "gateway", Gateway: true, Token: token}); err != nil {
		t.Fatal(err)
	}
	gwtest.StartProcess(t, ge.Dir, gwtest.ProcessOptions{Binary: bin})
	if err := emu.WaitFor(ctx, func() bool { return seen(emu)[marker] }); err != nil {
		t.Fatalf("waiting for the message published after the kill: %v", err)
	}
	got := seen(emu)
	var missing []int
	for seq := 1; seq <= n; seq++ {
		if !got[int64(seq)] {
			missing = append(missing, seq)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d messages the broker acknowledged to the device never reached ThingsBoard (first %d; %d were held by the broker at the kill)",
			len(missing), n, missing[0], held)
	}
	points := len(emu.Telemetry("KILL", "seq"))
	t.Logf("%d messages; %d held unacknowledged by the broker at the kill; %d points at tbemu (%d repeats)",
		n+1, held, points, points-(n+1))
}

// seen returns the seq values at tbemu.
func seen(emu *tbemu.Server) map[int64]bool {
	m := map[int64]bool{}
	for _, p := range emu.Telemetry("KILL", "seq") {
		if v, ok := p.Value.(int64); ok {
			m[v] = true
		}
	}
	return m
}

// heldBySession counts the messages the broker holds for the persistent session clientID: it connects as that
// client without acknowledging anything, has dev publish marker, and counts the distinct messages the broker
// delivers before it. Nothing is acknowledged, so the broker keeps them all (the marker too) for the next client.
func heldBySession(ctx context.Context, t *testing.T, b *broker, clientID string, dev *device, marker int, ts int64) int {
	t.Helper()
	got := make(chan int64, marker+16)
	opts := paho3.NewClientOptions().AddBroker("tcp://" + b.addr()).SetClientID(clientID).SetCleanSession(false).
		SetAutoReconnect(false).SetConnectRetry(false).SetAutoAckDisabled(true).SetOrderMatters(true).
		SetConnectTimeout(10 * time.Second).
		SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) {
			var p struct{ Seq int64 }
			if json.Unmarshal(m.Payload(), &p) == nil {
				got <- p.Seq
			}
		})
	c := paho3.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("connect as %s: %v", clientID, tok.Error())
	}
	defer c.Disconnect(0)
	dev.publish("kill/1", map[string]any{"seq": marker, "ts": ts})
	held := map[int64]bool{}
	for {
		select {
		case seq := <-got:
			if seq == int64(marker) {
				return len(held)
			}
			held[seq] = true
		case <-ctx.Done():
			t.Fatalf("the broker never delivered the marker to %s: %v", clientID, ctx.Err())
		}
	}
}

// startUnauthorizedGateway writes a config folder for one MQTT connector on file storage of files × perFile
// records, whose gateway token the emulator does not know yet (so the uplink is refused and storage only fills),
// builds the gateway command, starts it as a child process and waits until it is connected to the broker. It
// returns the binary, for restarts, and the process.
func startUnauthorizedGateway(t *testing.T, ge *gwtest.Env, conf map[string]any, files, perFile int, token, clientID string) (string, *gwtest.Process) {
	t.Helper()
	gc := gatewayConfig(mqtt.Type, conf, files, perFile)
	gc.Thingsboard = map[string]any{"security": map[string]any{"type": "accessToken", "accessToken": token}}
	ge.WriteConfig(gc)
	bin := gwtest.BuildGateway(t)
	gw := gwtest.StartProcess(t, ge.Dir, gwtest.ProcessOptions{Binary: bin})
	gw.WaitLog(ge.Ctx, "connected to the broker", clientID)
	return bin, gw
}
