package ble

import (
	"encoding/json"
	"fmt"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/bluez/bluezsim"
)

// topicConverter is a custom converter for the hook test: it reports the topic it was called with and the
// payload's length, under a key prefix taken from its configuration (the device's object).
type topicConverter struct{ prefix string }

func (c topicConverter) Convert(topic string, payload []byte) ([]tbgateway.Record, error) {
	return []tbgateway.Record{{Telemetry: []tbgateway.Telemetry{{Values: map[string]any{
		c.prefix + "topic": topic, c.prefix + "len": int64(len(payload))}}}}}, nil
}

func init() {
	tbgateway.RegisterConverter("BLETopicConverter", func(raw json.RawMessage) (tbgateway.Converter, error) {
		var dev struct {
			ExtensionConfig struct{ Prefix string } `json:"extensionConfig"`
		}
		if err := json.Unmarshal(raw, &dev); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		return topicConverter{prefix: dev.ExtensionConfig.Prefix}, nil
	})
}

// TestCustomConverter: a device naming a registered converter in "extension" has every characteristic value and
// advertisement converted by it, with the topic "<MAC>/<characteristic UUID>" or "<MAC>/advertisement", and the
// records it returns are sent for the device.
func TestCustomConverter(t *testing.T) {
	e := startSim(t, bluezsim.Options{})
	dev := e.addThermometer(macThermo, "Thermo")
	devCfg := map[string]any{"name": "custom", "MACAddress": macThermo, "pollPeriod": 50,
		"extension": "BLETopicConverter", "extensionConfig": map[string]any{"prefix": "x_"},
		"telemetry": []any{
			map[string]any{"key": "n", "method": "read", "characteristicUUID": uuidName},
			map[string]any{"key": "t", "method": "notify", "characteristicUUID": uuidTemp},
			map[string]any{"key": "a", "dataSourceType": "advertisement"},
		}}
	r := runConnector(t, newTestConnector(t, e.connectorConfig([]any{devCfg}, nil), nil))
	r.waitValue(t, "custom", "x_topic", macThermo+"/"+uuidName)
	r.waitValue(t, "custom", "x_topic", macThermo+"/advertisement")
	waitFor(t, r.ctx, "notify session", func() bool { return dev.Notifying(uuidTemp) })
	dev.Notify(uuidTemp, []byte{1, 2, 3, 4})
	r.waitValue(t, "custom", "x_len", int64(4))
	for _, rec := range r.sink.Records() {
		if rec.Device != "custom" || rec.DeviceType != "default" {
			t.Fatalf("record %+v: want device custom, type default", rec)
		}
	}
}
