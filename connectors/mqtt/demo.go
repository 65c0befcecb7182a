package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"
)

// DemoConfig returns a connector file (mqtt.json, new shape) for the devices RunDemoDevices simulates on the
// broker at host:port: telemetry and attributes from "demo/sensor/<name>/data", connect requests, shared
// attribute "setpoint" published to the device, and RPCs "getState" (two-way) and "setRelay" (one-way).
func DemoConfig(host string, port int) []byte {
	cfg := map[string]any{
		"broker": map[string]any{"name": "Demo broker", "host": host, "port": port, "version": 4,
			"clientId": "tbgateway-demo", "cleanSession": false, "security": map[string]any{"type": "anonymous"}},
		"mapping": []any{map[string]any{"topicFilter": "demo/sensor/+/data", "subscriptionQos": 1, "converter": map[string]any{
			"type": "json",
			"deviceInfo": map[string]any{"deviceNameExpressionSource": "topic", "deviceNameExpression": "(?<=demo/sensor/)(.*?)(?=/data)",
				"deviceProfileExpressionSource": "constant", "deviceProfileExpression": "mqtt-sensor"},
			"attributes": []any{map[string]any{"key": "model", "type": "string", "value": "${model}"}},
			"timeseries": []any{
				map[string]any{"key": "temperature", "type": "double", "value": "${temperature}"},
				map[string]any{"key": "humidity", "type": "double", "value": "${humidity}"},
				map[string]any{"key": "relay", "type": "bool", "value": "${relay}"},
			},
		}}},
		"requestsMapping": map[string]any{
			"connectRequests": []any{map[string]any{"topicFilter": "demo/sensor/+/connect", "deviceInfo": map[string]any{
				"deviceNameExpressionSource": "topic", "deviceNameExpression": "(?<=demo/sensor/)(.*?)(?=/connect)",
				"deviceProfileExpressionSource": "constant", "deviceProfileExpression": "mqtt-sensor"}}},
			"attributeUpdates": []any{map[string]any{"deviceNameFilter": ".*", "attributeFilter": "setpoint",
				"topicExpression": "demo/sensor/${deviceName}/setpoint", "valueExpression": "${attributeValue}", "qos": 1}},
			"serverSideRpc": []any{
				map[string]any{"deviceNameFilter": ".*", "methodFilter": "getState", "responseTimeout": 5000, "qos": 1,
					"requestTopicExpression":  "demo/sensor/${deviceName}/rpc/${methodName}/${requestId}",
					"responseTopicExpression": "demo/sensor/${deviceName}/rpc/${methodName}/${requestId}/reply", "valueExpression": "${params}"},
				map[string]any{"deviceNameFilter": ".*", "methodFilter": "setRelay", "qos": 1,
					"requestTopicExpression": "demo/sensor/${deviceName}/relay", "valueExpression": "${params}"},
			},
		},
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return b
}

// RunDemoDevices simulates devices "MQTT Sensor 1".."MQTT Sensor n" on the broker at addr (host:port): each
// sends a connect request, then telemetry every period; it follows "setRelay" and "setpoint" and answers
// "getState" with its current values. It runs until ctx is done and returns nil then.
func RunDemoDevices(ctx context.Context, addr string, n int, period time.Duration) error {
	type state struct {
		relay    bool
		setpoint float64
	}
	states := make([]state, n)
	for i := range states {
		states[i].setpoint = 21
	}
	msgs := make(chan paho3.Message, 64)
	opts := paho3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("tbgateway-demo-devices").
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).
		SetOnConnectHandler(func(c paho3.Client) {
			// Only the command topics: the devices' own telemetry would fill msgs and push commands out.
			c.SubscribeMultiple(map[string]byte{"demo/sensor/+/relay": 1, "demo/sensor/+/setpoint": 1,
				"demo/sensor/+/rpc/#": 1}, func(_ paho3.Client, m paho3.Message) {
				select {
				case msgs <- m:
				default: // the demo drops commands it cannot keep up with
				}
			})
		})
	c := paho3.NewClient(opts)
	c.Connect()
	defer c.Disconnect(100)
	name := func(i int) string { return fmt.Sprintf("MQTT Sensor %d", i+1) }
	index := func(dev string) int {
		var i int
		if _, err := fmt.Sscanf(dev, "MQTT Sensor %d", &i); err != nil || i < 1 || i > n {
			return -1
		}
		return i - 1
	}
	for i := 0; i < n; i++ {
		c.Publish("demo/sensor/"+name(i)+"/connect", 1, false, "")
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			parts := strings.Split(m.Topic(), "/")
			if len(parts) < 4 {
				continue
			}
			i := index(parts[2])
			if i < 0 {
				continue
			}
			switch {
			case parts[3] == "relay":
				var p struct{ On bool }
				if json.Unmarshal(m.Payload(), &p) == nil {
					states[i].relay = p.On
				}
			case parts[3] == "setpoint":
				var v float64
				if json.Unmarshal(m.Payload(), &v) == nil {
					states[i].setpoint = v
				}
			case parts[3] == "rpc" && len(parts) == 6 && parts[4] == "getState":
				reply, _ := json.Marshal(map[string]any{"relay": states[i].relay, "setpoint": states[i].setpoint})
				c.Publish(m.Topic()+"/reply", 1, false, reply)
			}
		case now := <-tick.C:
			t := now.Sub(start).Seconds()
			for i := 0; i < n; i++ {
				payload, _ := json.Marshal(map[string]any{
					"model":       "DS-100",
					"temperature": math.Round((states[i].setpoint+2*math.Sin(t/30+float64(i)))*100) / 100,
					"humidity":    math.Round((45+10*math.Cos(t/45+float64(i)))*100) / 100,
					"relay":       states[i].relay,
				})
				c.Publish("demo/sensor/"+name(i)+"/data", 1, false, payload)
			}
		}
	}
}
