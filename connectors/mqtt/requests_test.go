package mqtt

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

type expectedRequests struct {
	DeviceRequests []struct {
		Config, Kind, Topic, Payload, Device, Type string
		Error                                      bool
	} `json:"deviceRequests"`
	AttributeRequests []struct {
		Config, Payload, Device, PublishTopic, PublishPayload, Error string
		Client                                                       bool
		Keys                                                         []string
		Values                                                       map[string]any
	} `json:"attributeRequests"`
	AttributeUpdates []struct {
		Config, Device, Error, ConfigError string
		Values                             map[string]any
		Publishes                          []fakePublish
	} `json:"attributeUpdates"`
	RPC []struct {
		Config, Device, Method, PublishTopic, PublishPayload, ResponseTopic, Response, Error string
		ID                                                                                   int64
		Params, Reply                                                                        json.RawMessage
	} `json:"rpc"`
}

func loadExpectedRequests(t *testing.T) expectedRequests {
	var e expectedRequests
	if err := json.Unmarshal(readTestdata(t, "expected/requests.json"), &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// sectionConfig wraps one request section of the corpus into a whole configuration.
func sectionConfig(t *testing.T, section, file string) *Config {
	t.Helper()
	raw := `{"broker": {"host": "127.0.0.1"}, "requestsMapping": {"` + section + `": [` + string(readTestdata(t, file)) + `]}}`
	cfg, _, err := Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newTestConnector(t *testing.T, cfg *Config) *Connector {
	t.Helper()
	c, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeviceRequests(t *testing.T) {
	for _, tc := range loadExpectedRequests(t).DeviceRequests {
		t.Run(tc.Config+"/"+tc.Topic, func(t *testing.T) {
			section := tc.Kind + "Requests"
			c := newTestConnector(t, sectionConfig(t, section, tc.Config))
			acked := false
			p := c.handle(context.Background(), nil, message{topic: tc.Topic, payload: []byte(tc.Payload), ack: func() { acked = true }})
			if tc.Error {
				if len(p.recs) != 0 || c.Stats().BadPayloads != 1 {
					t.Fatalf("records %+v, bad payloads %d; want none and 1", p.recs, c.Stats().BadPayloads)
				}
				return
			}
			kind := tbgateway.KindConnect
			if tc.Kind == "disconnect" {
				kind = tbgateway.KindDisconnect
			}
			want := []tbgateway.Record{{Kind: kind, Device: tc.Device, DeviceType: tc.Type}}
			if !reflect.DeepEqual(p.recs, want) || acked {
				t.Fatalf("records %+v (acked %v), want %+v not yet acked", p.recs, acked, want)
			}
		})
	}
}

func TestAttributeRequests(t *testing.T) {
	for i, tc := range loadExpectedRequests(t).AttributeRequests {
		cfg := sectionConfig(t, "attributeRequests", tc.Config)
		c := newTestConnector(t, cfg)
		m := message{topic: "v1/devices/me/attributes/request", payload: []byte(tc.Payload)}
		req, reason, ok := parseAttributeRequest(c.c.attrReqs[0], m)
		if tc.Error != "" {
			if ok || !strings.Contains(reason, tc.Error) {
				t.Errorf("case %d: got %+v %q, want error %q", i, req, reason, tc.Error)
			}
			continue
		}
		if !ok || req.device != tc.Device || !reflect.DeepEqual(req.keys, tc.Keys) || c.c.attrReqs[0].scopeIsClient != tc.Client {
			t.Errorf("case %d: got %+v client=%v (%s), want %s %v client=%v", i, req, c.c.attrReqs[0].scopeIsClient, reason, tc.Device, tc.Keys, tc.Client)
			continue
		}
		topic, payload := attributeReply(c.c.attrReqs[0], req, tc.Values)
		if topic != tc.PublishTopic || string(payload) != tc.PublishPayload {
			t.Errorf("case %d: publish %q %s, want %q %s", i, topic, payload, tc.PublishTopic, tc.PublishPayload)
		}
	}
}

// fakePublish is one publish seen by fakeConn.
type fakePublish struct {
	Topic   string `json:"topic"`
	Payload string `json:"payload"`
	Retain  bool   `json:"retain"`
	QoS     byte   `json:"qos"`
}

// fakeConn records publishes; onPublish may answer them.
type fakeConn struct {
	*lossSignal
	mu        sync.Mutex
	publishes []fakePublish
	subs      []string
	onPublish func(topic string)
}

func (f *fakeConn) Subscribe(_ context.Context, subs []subscription) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range subs {
		f.subs = append(f.subs, s.filter)
	}
	return nil
}
func (f *fakeConn) Unsubscribe(context.Context, ...string) error { return nil }
func (f *fakeConn) Publish(_ context.Context, topic string, qos byte, retain bool, payload []byte) error {
	f.mu.Lock()
	f.publishes = append(f.publishes, fakePublish{Topic: topic, Payload: string(payload), Retain: retain, QoS: qos})
	on := f.onPublish
	f.mu.Unlock()
	if on != nil {
		on(topic)
	}
	return nil
}
func (f *fakeConn) Close() { f.lost(nil) }

func TestAttributeUpdates(t *testing.T) {
	for _, tc := range loadExpectedRequests(t).AttributeUpdates {
		t.Run(tc.Config, func(t *testing.T) {
			cfg, _, err := Decode(readTestdata(t, tc.Config))
			if tc.ConfigError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.ConfigError) {
					t.Fatalf("got %v, want a config error %q", err, tc.ConfigError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := newTestConnector(t, cfg)
			fc := &fakeConn{lossSignal: newLossSignal()}
			c.setConn(fc)
			err = c.UpdateAttributes(context.Background(), tc.Device, tc.Values)
			if tc.Error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.Error) || len(fc.publishes) != 0 {
					t.Fatalf("got %v and %+v, want error %q and no publish", err, fc.publishes, tc.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fc.publishes, tc.Publishes) {
				t.Fatalf("publishes %+v, want %+v", fc.publishes, tc.Publishes)
			}
		})
	}
}

func TestRPC(t *testing.T) {
	for _, tc := range loadExpectedRequests(t).RPC {
		t.Run(tc.Method, func(t *testing.T) {
			cfg, _, err := Decode(readTestdata(t, tc.Config))
			if err != nil {
				t.Fatal(err)
			}
			c := newTestConnector(t, cfg)
			fc := &fakeConn{lossSignal: newLossSignal()}
			fc.onPublish = func(topic string) {
				if tc.ResponseTopic != "" {
					c.deliverResponse(message{topic: tc.ResponseTopic, payload: []byte(tc.Response), ack: func() {}})
				}
			}
			c.setConn(fc)
			reply, err := c.HandleRPC(context.Background(), tbgateway.RPCRequest{Device: tc.Device, ID: tc.ID, Method: tc.Method, Params: tc.Params})
			if tc.Error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.Error) {
					t.Fatalf("got %s, %v; want error %q", reply, err, tc.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			_ = json.Unmarshal(reply, &got)
			_ = json.Unmarshal(tc.Reply, &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("reply %s, want %s", reply, tc.Reply)
			}
			if len(fc.publishes) != 1 || fc.publishes[0].Topic != tc.PublishTopic || fc.publishes[0].Payload != tc.PublishPayload {
				t.Errorf("publishes %+v, want %q %q", fc.publishes, tc.PublishTopic, tc.PublishPayload)
			}
			if tc.ResponseTopic != "" && (len(fc.subs) != 1 || fc.subs[0] != tc.ResponseTopic) {
				t.Errorf("subscriptions %q, want %q", fc.subs, tc.ResponseTopic)
			}
		})
	}
}
