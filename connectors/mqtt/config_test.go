package mqtt

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOldAndNewShapesDecodeEqual checks every old/new pair of the Python gateway's corpus.
func TestOldAndNewShapesDecodeEqual(t *testing.T) {
	for _, dir := range []string{"mapping", "attribute_requests", "attribute_updates", "connect_requests", "disconnect_requests", "server_side_rpc"} {
		t.Run(dir, func(t *testing.T) {
			oldCfg, _, err := Decode(readTestdata(t, "corpus/"+dir+"/old_config.json"))
			if err != nil {
				t.Fatalf("old shape: %v", err)
			}
			newCfg, _, err := Decode(readTestdata(t, "corpus/"+dir+"/new_config.json"))
			if err != nil {
				t.Fatalf("new shape: %v", err)
			}
			if !reflect.DeepEqual(oldCfg, newCfg) {
				t.Fatalf("old and new shapes differ:\nold %+v\nnew %+v", oldCfg, newCfg)
			}
		})
	}
}

func TestDecodeSample(t *testing.T) {
	cfg, warns, err := Decode(readTestdata(t, "corpus/sample_mqtt.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Mapping) != 4 || len(cfg.ConnectRequests) != 2 || len(cfg.DisconnectRequests) != 2 ||
		len(cfg.AttributeRequests) != 1 || len(cfg.AttributeUpdates) != 1 || len(cfg.ServerSideRPC) != 2 {
		t.Fatalf("sections: %+v", cfg)
	}
	b := cfg.Broker
	if b.Host != "127.0.0.1" || b.Port != 1883 || b.Version != 5 || !b.CleanSession || b.ClientID != "ThingsBoard_gateway" {
		t.Errorf("broker: %+v", b)
	}
	if !cfg.ServerSideRPC[0].TwoWay() || cfg.ServerSideRPC[1].TwoWay() || cfg.ServerSideRPC[0].Timeout.Milliseconds() != 10000 {
		t.Errorf("rpc: %+v", cfg.ServerSideRPC)
	}
	want := `mapping[3].converter.extension: no converter "CustomMqttUplinkConverter" is compiled into this binary; the mapping is disabled`
	if !slices.Contains(warns, want) {
		t.Errorf("warnings %q lack %q", warns, want)
	}
}

func TestDecodeErrorsNameTheKeyPath(t *testing.T) {
	base := func(mapping string) string {
		return `{"broker": {"host": "h"}, "mapping": [` + mapping + `]}`
	}
	conv := `{"topicFilter": "a", "converter": {"type": "json", "deviceInfo": {"deviceNameExpression": "${n}"}, "timeseries": [{"key": "k", "value": "${v}"}]}}`
	cases := []struct{ name, raw, want string }{
		{"converter type", base(conv + `,` + conv + `,` + strings.Replace(conv, `"json"`, `"xml"`, 1)),
			`mapping[2].converter.type: expected one of json, bytes, custom, found "xml"`},
		{"no host", `{"broker": {}}`, `broker.host: expected the broker's host name or address, found nothing`},
		{"port type", `{"broker": {"host": "h", "port": true}}`, `broker.port: expected an integer 1-65535, found true`},
		{"version", `{"broker": {"host": "h", "version": 6}}`, `broker.version: expected an integer 3-5, found 6`},
		{"bad regex", base(strings.Replace(conv, `"deviceNameExpression": "${n}"`, `"deviceNameExpressionSource": "topic", "deviceNameExpression": "(?<=a"`, 1)),
			`mapping[0].converter.deviceInfo.deviceNameExpression: invalid regular expression "(?<=a"`},
		{"unclosed template", base(strings.Replace(conv, `"${v}"`, `"${v"`, 1)),
			`mapping[0].converter.timeseries[0].value: unclosed ${`},
		{"value type", base(strings.Replace(conv, `"key": "k"`, `"key": "k", "type": "decimal"`, 1)),
			`mapping[0].converter.timeseries[0].type: expected one of`},
		{"topic filter", base(strings.Replace(conv, `"topicFilter": "a"`, `"topicFilter": "a/#/b"`, 1)),
			`mapping[0].topicFilter: topic filter "a/#/b": # must be the last level`},
		{"security", `{"broker": {"host": "h", "security": {"type": "kerberos"}}}`,
			`broker.security.type: expected one of anonymous, basic, certificates, found "kerberos"`},
		{"rpc filter", `{"broker": {"host": "h"}, "requestsMapping": {"serverSideRpc": [{"methodFilter": "(", "requestTopicExpression": "t", "valueExpression": "v"}]}}`,
			`requestsMapping.serverSideRpc[0].methodFilter: invalid regular expression "("`},
		{"not JSON", `{"broker": `, `invalid JSON`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Decode([]byte(tc.raw))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	_, err := Check(tbgateway.ConnectorConfig{File: "mqtt.json", Raw: []byte(cases[0].raw)})
	if err == nil || err.Error() != `mqtt.json: mapping[2].converter.type: expected one of json, bytes, custom, found "xml"` {
		t.Fatalf("Check: %v", err)
	}
}

func TestDecodeWarnings(t *testing.T) {
	raw := `{"broker": {"host": "h", "cleanSession": false, "colour": 1}, "mapping": [{"topicFilter": "a", "converter":
		{"type": "json", "useEval": true, "deviceInfo": {"deviceNameExpression": "x"}, "attributes": "*", "extra": 2}}]}`
	cfg, warns, err := Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"broker.colour: unknown key, ignored", "mapping[0].converter.extra: unknown key, ignored",
		"mapping[0].converter.useEval: true is not supported", "broker.clientId: a persistent session"} {
		if !slices.ContainsFunc(warns, func(s string) bool { return strings.HasPrefix(s, w) }) {
			t.Errorf("no warning %q in %q", w, warns)
		}
	}
	if !cfg.Mapping[0].Converter.AllAttributes {
		t.Error(`"attributes": "*" not decoded`)
	}
	// The registered Check returns the same warnings naming the file: the runtime logs them at start and
	// check-config prints them.
	checked, err := Check(tbgateway.ConnectorConfig{File: "mqtt.json", Raw: []byte(raw)})
	if err != nil {
		t.Fatal(err)
	}
	if len(checked) != len(warns) {
		t.Fatalf("Check returned %q, Decode %q", checked, warns)
	}
	for i, w := range warns {
		if checked[i] != "mqtt.json: "+w {
			t.Errorf("Check warning %q, want %q", checked[i], "mqtt.json: "+w)
		}
	}
}

func TestTopicFilter(t *testing.T) {
	cases := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true}, {"a/b", "a/c", false}, {"a/+/c", "a/x/c", true}, {"a/+/c", "a/x/y/c", false},
		{"a/#", "a/x/y", true}, {"a/#", "a", true}, {"#", "a/b", true}, {"#", "$SYS/x", false},
		{"$share/g/sensor/+/data", "sensor/1/data", true}, {"data/", "data/", true}, {"data/", "data", false},
		{"+/+", "a/b", true}, {"+", "a/b", false},
	}
	for _, tc := range cases {
		tf, err := parseTopicFilter(tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		if got := tf.matches(tc.topic); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestReportStrategies(t *testing.T) {
	cfg, _, err := Decode([]byte(`{"broker": {"host": "h"}, "mapping": [{"topicFilter": "a", "converter": {"type": "json",
		"reportStrategy": {"type": "ON_CHANGE"},
		"deviceInfo": {"deviceNameExpressionSource": "constant", "deviceNameExpression": "Boiler"},
		"timeseries": [{"key": "t", "value": "${t}", "reportStrategy": {"type": "ON_REPORT_PERIOD", "reportPeriod": 5000}},
		               {"key": "${k}", "value": "${v}", "reportStrategy": {"type": "ON_CHANGE"}}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.ReportStrategies()
	if len(got) != 2 || got[0].Device != "Boiler" || got[1].Key != "t" || got[1].Device != "" {
		t.Fatalf("rules %+v", got)
	}
}
