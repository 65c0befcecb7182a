package opcua

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

// TestCorpusConfigsDecode: the sample opcua.json and every corpus connector config load without warnings.
func TestCorpusConfigsDecode(t *testing.T) {
	files, _ := filepath.Glob("testdata/corpus/configs/*/*.json")
	files = append(files, "testdata/corpus/configs/default_opcua_config.json")
	if len(files) < 10 {
		t.Fatalf("corpus configs missing: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { corpusConfig(t, strings.TrimPrefix(f, "testdata/"), "opc.tcp://x:1") })
	}
	raw, err := os.ReadFile("testdata/corpus/sample_opcua.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := Decode("sample_opcua.json", raw)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("sample opcua.json: %v %v", warnings, err)
	}
	if *cfg.Server.EnableSubscriptions || cfg.Server.PollPeriodInMillis != 5000 || cfg.Server.Security != "Basic128Rsa15" {
		t.Errorf("sample server section decoded as %+v", cfg.Server)
	}
	c, err := New("sample", cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Devices(); len(got) != 1 || got[0] != (tbgateway.DeviceInfo{Name: "Demo Device", Type: "default"}) {
		t.Errorf("Devices() = %v", got)
	}
}

// TestUnitCorpusMappings: the unit corpus' mapping sections (rpc and attribute updates) compile.
func TestUnitCorpusMappings(t *testing.T) {
	files, _ := filepath.Glob("testdata/corpus/unit/*/*.json")
	if len(files) == 0 {
		t.Fatal("unit corpus missing")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(map[string]any{"server": map[string]any{"url": "localhost:4840"}, "mapping": []json.RawMessage{b}})
		cfg, warnings, err := Decode(f, raw)
		if err != nil || len(warnings) > 0 {
			t.Errorf("%s: %v %v", f, warnings, err)
			continue
		}
		if cfg.Server.URL != "opc.tcp://localhost:4840" {
			t.Errorf("url without scheme: %q", cfg.Server.URL)
		}
		if _, err := New("unit", cfg, testLogger()); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestDecodeErrorsAndWarnings(t *testing.T) {
	base := func(server, mapping string) string {
		return `{"server": ` + server + `, "mapping": [` + mapping + `]}`
	}
	okMapping := `{"deviceNodePattern": "Root\\.Objects\\.D", "deviceInfo": {"deviceNameExpression": "D"}, "timeseries": [{"key": "t", "type": "path", "value": "${T}"}]}`
	okServer := `{"url": "opc.tcp://h:4840"}`
	errCases := map[string]struct{ raw, want string }{
		"no url":            {base(`{}`, okMapping), "server.url: expected the server's opc.tcp:// URL, found nothing"},
		"no server":         {`{"mapping": [` + okMapping + `]}`, "server: expected an object with the server's url, found nothing"},
		"other scheme":      {base(`{"url": "http://h"}`, okMapping), `server.url: expected an opc.tcp:// URL, found "http://h"`},
		"wrong type":        {base(`{"url": "opc.tcp://h", "timeoutInMillis": "5s"}`, okMapping), `server.timeoutInMillis: expected a positive number of milliseconds, found "5s"`},
		"negative":          {base(`{"url": "opc.tcp://h", "pollPeriodInMillis": -1}`, okMapping), "server.pollPeriodInMillis: expected a positive number of milliseconds, found -1"},
		"bad security":      {base(`{"url": "opc.tcp://h", "security": "ROT13"}`, okMapping), "server.security: expected one of None, Basic128Rsa15"},
		"bad identity":      {base(`{"url": "opc.tcp://h", "identity": {"type": "kerberos"}}`, okMapping), "server.identity.type: expected one of anonymous"},
		"bad mode":          {base(`{"url": "opc.tcp://h", "identity": {"mode": "Encrypt"}}`, okMapping), "server.identity.mode: expected one of None, Sign, SignAndEncrypt"},
		"user without name": {base(`{"url": "opc.tcp://h", "identity": {"type": "username"}}`, okMapping), "server.identity.username: expected a user name"},
		"no mapping":        {`{"server": ` + okServer + `}`, "mapping: expected at least one device mapping"},
		"mapping not list":  {`{"server": ` + okServer + `, "mapping": 3}`, "mapping: expected a list, found 3"},
		"bad node id":       {base(okServer, `{"deviceNodeSource": "identifier", "deviceNodePattern": "ns=x;i=1", "deviceInfo": {"deviceNameExpression": "D"}}`), "mapping[0].deviceNodePattern: node id"},
		"bad node source":   {base(okServer, `{"deviceNodeSource": "browse", "deviceNodePattern": "Root\\.Objects\\.D", "deviceInfo": {"deviceNameExpression": "D"}}`), "mapping[0].deviceNodeSource: expected one of path, identifier"},
		"no name":           {base(okServer, `{"deviceNodePattern": "Root\\.Objects\\.D"}`), "mapping[0].deviceInfo.deviceNameExpression: expected the device name"},
		"no key":            {base(okServer, `{"deviceNodePattern": "Root\\.Objects\\.D", "deviceInfo": {"deviceNameExpression": "D"}, "attributes": [{"value": "${A}"}]}`), "mapping[0].attributes[0].key: expected the key's name, found nothing"},
		"two expressions":   {base(okServer, `{"deviceNodePattern": "Root\\.Objects\\.D", "deviceInfo": {"deviceNameExpression": "D"}, "timeseries": [{"key": "k", "value": "${A}${B}"}]}`), "mapping[0].timeseries[0].value: expected exactly one ${node}"},
		"value not text":    {base(okServer, `{"deviceNodePattern": "Root\\.Objects\\.D", "deviceInfo": {"deviceNameExpression": "D"}, "timeseries": [{"key": "k", "value": 5}]}`), "mapping[0].timeseries[0].value: expected a string with one ${node} expression, found 5"},
		"duplicate key":     {base(okServer, `{"deviceNodePattern": "Root\\.Objects\\.D", "deviceInfo": {"deviceNameExpression": "D"}, "timeseries": [{"key": "k", "value": "${A}"}, {"key": "k", "value": "${B}"}]}`), `mapping[0].timeseries[1].key: "k" already used at mapping[0].timeseries[0]`},
		"bad key type":      {base(okServer, `{"deviceNodePattern": "Root\\.Objects\\.D", "deviceInfo": {"deviceNameExpression": "D"}, "timeseries": [{"key": "k", "type": "node", "value": "${A}"}]}`), "mapping[0].timeseries[0].type: expected one of path, identifier, constant"},
		"unclosed":          {base(okServer, `{"deviceNodePattern": "Root\\.Objects\\.D", "deviceInfo": {"deviceNameExpression": "D ${X"}}`), "mapping[0].deviceInfo.deviceNameExpression: unclosed"},
		"bad ts location":   {base(okServer, `{"deviceNodePattern": "Root\\.Objects\\.D", "deviceInfo": {"deviceNameExpression": "D"}, "timeseries": [{"key": "k", "value": "${A}", "timestampLocation": "moon"}]}`), "mapping[0].timeseries[0].timestampLocation: expected one of gateway"},
		"bad strategy":      {base(okServer, `{"deviceNodePattern": "Root\\.Objects\\.D", "deviceInfo": {"deviceNameExpression": "D"}, "reportStrategy": {"type": "SOMETIMES"}}`), "mapping[0].reportStrategy: type: unknown report strategy"},
		"bad argument":      {base(okServer, `{"deviceNodePattern": "Root\\.Objects\\.D", "deviceInfo": {"deviceNameExpression": "D"}, "rpc_methods": [{"method": "m", "arguments": [{"type": "integer", "value": "x"}]}]}`), "mapping[0].rpc_methods[0].arguments[0]: cannot convert value"},
		"no method":         {base(okServer, `{"deviceNodePattern": "Root\\.Objects\\.D", "deviceInfo": {"deviceNameExpression": "D"}, "rpc_methods": [{"arguments": []}]}`), "mapping[0].rpc_methods[0].method: expected the method's name"},
		"bad update node":   {base(okServer, `{"deviceNodePattern": "Root\\.Objects\\.D", "deviceInfo": {"deviceNameExpression": "D"}, "attributes_updates": [{"key": "a", "value": ""}]}`), "mapping[0].attributes_updates[0].value: empty node reference"},
		"not json":          {`{"server": `, "opcua.json:1:12: invalid JSON"},
	}
	for name, tc := range errCases {
		_, _, err := Decode("opcua.json", []byte(tc.raw))
		if err == nil || !strings.HasPrefix(err.Error(), "opcua.json") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to name the file and contain %q", name, err, tc.want)
		}
	}
	raw := base(`{"url": "opc.tcp://h", "identity": {"type": "anonymous", "tokn": 1}, "urll": 2}`,
		`{"deviceNodePattern": "Root\\.Objects\\.D", "deviceInfo": {"deviceNameExpression": "D", "x": 1}, "timeseries": [{"key": "t", "value": "${T}", "unit": "C"}], "rpc_methods": [{"method": "m", "arguments": [{"type": "integer", "value": 1, "min": 0}]}]}`)
	_, warnings, err := Decode("opcua.json", []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"opcua.json: server.identity.tokn: unknown key, ignored",
		"opcua.json: server.urll: unknown key, ignored",
		"opcua.json: mapping[0].deviceInfo.x: unknown key, ignored",
		"opcua.json: mapping[0].timeseries[0].unit: unknown key, ignored",
		"opcua.json: mapping[0].rpc_methods[0].arguments[0].min: unknown key, ignored",
	}
	if strings.Join(warnings, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
	}
	_, err = Check(tbgateway.ConnectorConfig{Name: "o", File: "/etc/gw/opcua.json", Raw: []byte(base(`{}`, okMapping))})
	if err == nil || !strings.HasPrefix(err.Error(), "/etc/gw/opcua.json: server.url") {
		t.Errorf("Check error %v must name the file and key", err)
	}
}

func TestOldShapes(t *testing.T) {
	raw := `{"server": {"url": "h:4840", "security": "None"}, "mapping": [{"deviceNodePattern": "Root\\.Objects\\.D",
	  "deviceNamePattern": "Device ${Root\\.Objects\\.D\\.Serial}", "deviceTypePattern": "thermo",
	  "attributes": [{"key": "a", "path": "${A}"}],
	  "rpc_methods": [{"method": "m", "arguments": [2, 3.5, true]}],
	  "attributes_updates": [{"attributeOnThingsBoard": "sp", "attributeOnDevice": "Root\\.Objects\\.D\\.SP"}]}]}`
	cfg, warnings, err := Decode("old.json", []byte(raw))
	if err != nil || len(warnings) > 0 {
		t.Fatalf("%v %v", warnings, err)
	}
	c, err := New("old", cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	m := c.mappings[0]
	if !m.name.HasExpr() || len(m.name.Exprs()) != 1 || m.profile.Text != "thermo" || m.profile.HasExpr() {
		t.Errorf("name/profile templates: %+v %+v", m.name, m.profile)
	}
	if ref, ok := m.updates["sp"]; !ok || ref.String() != `Root\.Objects\.D\.SP` {
		t.Errorf("attribute update sp -> %v", m.updates)
	}
	if args := m.methods["m"].Arguments; len(args) != 3 || args[2].Value != true {
		t.Errorf("bare arguments: %+v", args)
	}
	if len(c.Devices()) != 0 {
		t.Errorf("a device named from a node must not be listed before it is resolved: %v", c.Devices())
	}
}
