package config

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestLoadCorpusMainFile(t *testing.T) {
	cfg, warns, err := Load(filepath.Join("testdata", "corpus"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The sample turns remote configuration on, which is only partly built: that is the only warning.
	if len(warns) != 1 || !strings.HasSuffix(warns[0].String(), "thingsboard.remoteConfiguration: remote configuration applies connector configurations, active_connectors, general_configuration, storage_configuration and logs_configuration from ThingsBoard; its grpc section is not applied yet") {
		t.Errorf("warnings: %v", warns)
	}
	tb := cfg.Thingsboard
	if tb.Host != "thingsboard.cloud" || tb.Port != 1883 || tb.QoS != 1 {
		t.Errorf("host/port/qos = %q/%d/%d", tb.Host, tb.Port, tb.QoS)
	}
	if tb.Security.Type != SecurityAccessToken || tb.Security.AccessToken != "YOUR_ACCESS_TOKEN" {
		t.Errorf("security = %+v", tb.Security)
	}
	// Sample values where present, Python code defaults where absent.
	if !tb.RemoteConfiguration || tb.Statistics.CustomStatsSendPeriodInSeconds != 3600 ||
		tb.CheckingDeviceActivity.InactivityTimeoutSeconds != 300 {
		t.Errorf("sample values not applied: %+v", tb)
	}
	if tb.ReportStrategy != (ReportStrategy{Type: ReportOnReceived, ReportPeriodMS: 10000, TTLSeconds: 86400}) {
		t.Errorf("reportStrategy = %+v", tb.ReportStrategy)
	}
	if tb.KeepAlive != 120 || tb.MaxInflightMessages != 100 || tb.ReconnectMaxDelaySeconds != 120 ||
		tb.ReconnectMinDelaySeconds != 1 || !tb.SyncDevicesSharedAttributesOnConnect {
		t.Errorf("defaults not applied: %+v", tb)
	}
	if want := filepath.Join("testdata", "corpus", "dead_letter.jsonl"); tb.DeadLetterFile != want {
		t.Errorf("deadLetterFile = %q, want %q", tb.DeadLetterFile, want)
	}
	st := cfg.Storage
	if st.Type != StorageMemory || st.MaxRecordsCount != 100000 || st.ReadRecordsCount != 100 ||
		st.MaxRecordsPerFile != 10000 || st.WritingBatchSize != 1000 || st.FullPolicy != FullPolicyRefuseNew {
		t.Errorf("storage = %+v", st)
	}
	if cfg.GRPC.Enabled || cfg.GRPC.ServerPort != 9595 || cfg.GRPC.KeepAliveTimeMs != 10001 {
		t.Errorf("grpc = %+v", cfg.GRPC)
	}
	if len(cfg.Connectors) != 0 {
		t.Errorf("connectors = %v", cfg.Connectors)
	}
	for _, section := range []string{"thingsboard", "storage", "grpc", "connectors"} {
		if !json.Valid(cfg.Raw[section]) {
			t.Errorf("Raw[%q] = %q", section, cfg.Raw[section])
		}
	}
}

func TestLoadEveryCorpusConnectorFile(t *testing.T) {
	cfg, warns, err := Load(filepath.Join("testdata", "all_connectors", "tb_gateway.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("unexpected warnings: %v", warns)
	}
	listed := map[string]bool{}
	for _, c := range cfg.Connectors {
		want, err := os.ReadFile(c.File)
		if err != nil {
			t.Fatalf("connector %s: %v", c.Name, err)
		}
		if string(c.Raw) != string(want) {
			t.Errorf("connector %s: Raw differs from %s", c.Name, c.File)
		}
		listed[filepath.Base(c.File)] = true
	}
	// Every JSON file of the corpus folder is either a connector file listed above or one of the gateway's
	// other files (device filter, logging, custom statistics), which must at least parse.
	others := map[string]bool{"tb_gateway.json": true, "list.json": true, "logs.json": true}
	err = filepath.WalkDir(filepath.Join("testdata", "corpus"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		name := d.Name()
		switch {
		case listed[name]:
		case others[name] || strings.HasPrefix(path, filepath.Join("testdata", "corpus", "statistics")):
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if _, err := parseJSON(path, data); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		default:
			t.Errorf("corpus file %s is not listed in all_connectors/tb_gateway.json", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestYAMLLoadsLikeJSON(t *testing.T) {
	fromJSON, _, err := Load(filepath.Join("testdata", "corpus", "tb_gateway.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	fromYAML, warns, err := Load(filepath.Join("testdata", "yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.HasSuffix(warns[0].String(), "thingsboard.remoteConfiguration: remote configuration applies connector configurations, active_connectors, general_configuration, storage_configuration and logs_configuration from ThingsBoard; its grpc section is not applied yet") {
		t.Errorf("warnings: %v", warns)
	}
	if fromYAML.File != filepath.Join("testdata", "yaml", "tb_gateway.yaml") {
		t.Errorf("File = %q", fromYAML.File)
	}
	// Everything but the file's own location must match.
	for _, c := range []*Config{fromJSON, fromYAML} {
		c.File, c.Dir, c.Gateway.DataFolderPath, c.Thingsboard.DeadLetterFile = "", "", "", ""
	}
	if !reflect.DeepEqual(fromJSON, fromYAML) {
		t.Errorf("YAML config differs from JSON:\n json: %+v\n yaml: %+v", fromJSON, fromYAML)
	}
}

func TestJSONPreferredOverYAML(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"tb_gateway.json": `{"thingsboard": {"host": "from-json"}}`,
		"tb_gateway.yaml": "thingsboard:\n  host: from-yaml\n",
	})
	cfg, _, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Thingsboard.Host != "from-json" {
		t.Errorf("host = %q, want from-json", cfg.Thingsboard.Host)
	}
}

func TestWarnings(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"tb_gateway.json": `{
			"thingsboard": {"host": "h", "prot": 1884, "remoteShell": true, "managerEnabled": true,
				"security": {"accessToken": "T", "tokn": "x"},
				"statistics": {"statsSendPeriodInSeconds": 5},
				"reportStrategy": {"type": "ON_CHANGE", "aggregationFunction": "AVG"}},
			"grpc": {"enabled": true},
			"logs": {},
			"connectors": [{"type": "mqtt", "name": "M", "configuration": "m.json", "ts": 1}]}`,
		"m.json": `{}`,
	})
	cfg, warns, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "tb_gateway.json")
	var got []string
	for _, w := range warns {
		got = append(got, strings.TrimPrefix(w.String(), file+": "))
	}
	want := []string{
		"thingsboard.security.tokn: unknown key, ignored",
		"thingsboard.statistics.statsSendPeriodInSeconds: 5 is below the minimum 10, 10 used",
		"thingsboard.reportStrategy.aggregationFunction: aggregation is not implemented (nor in the Python gateway), ignored",
		"thingsboard.remoteShell: remote shell is not supported, ignored",
		"thingsboard.managerEnabled: the local manager is not supported, ignored",
		"thingsboard.prot: unknown key, ignored",
		"connectors[0].ts: unknown key, ignored",
		"logs: unknown key, ignored",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("warnings\n got: %q\nwant: %q", got, want)
	}
	if cfg.Thingsboard.Statistics.StatsSendPeriodInSeconds != 10 {
		t.Errorf("statsSendPeriodInSeconds = %d, want 10", cfg.Thingsboard.Statistics.StatsSendPeriodInSeconds)
	}
	if _, ok := cfg.Raw["logs"]; !ok {
		t.Error("unknown section missing from Raw")
	}
}

func TestSecurityTypeInferred(t *testing.T) {
	cases := []struct {
		security string
		want     string
	}{
		{`{"accessToken": "T"}`, SecurityAccessToken},
		{`{"accessToken": "T", "caCert": "ca.pem"}`, SecurityTLSAccessToken},
		{`{"clientId": "c", "username": "u", "password": "p"}`, SecurityUsernamePassword},
		{`{"cert": "c.pem", "privateKey": "k.pem"}`, SecurityTLSPrivateKey},
		{`{}`, ""},
	}
	for _, tc := range cases {
		dir := writeFiles(t, map[string]string{"tb_gateway.json": `{"thingsboard": {"host": "h", "security": ` + tc.security + `}}`})
		cfg, _, err := Load(dir, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.security, err)
		}
		if cfg.Thingsboard.Security.Type != tc.want {
			t.Errorf("%s: type = %q, want %q", tc.security, cfg.Thingsboard.Security.Type, tc.want)
		}
	}
}

func TestOurAdditionsAndPaths(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"tb_gateway.json": `{"thingsboard": {"host": "h", "reconnectMinDelaySeconds": 0.5, "reconnectMaxDelaySeconds": 30,
			"maxInflightMessages": 7, "deadLetterFile": "dl/rejected.jsonl", "security": {"tls": false}},
			"storage": {"type": "file", "fullPolicy": "drop-oldest"},
			"gateway": {"dataFolderPath": "state"},
			"connectors": [{"type": "modbus", "name": "M", "configuration": "sub/modbus.json"}]}`,
		"sub/modbus.json": `{"master": {"slaves": []}}`,
	})
	cfg, warns, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	tb := cfg.Thingsboard
	if tb.ReconnectMinDelay().Milliseconds() != 500 || tb.ReconnectMaxDelay().Seconds() != 30 || tb.MaxInflightMessages != 7 {
		t.Errorf("additions = %+v", tb)
	}
	if tb.Security.TLS == nil || *tb.Security.TLS {
		t.Errorf("security.tls = %v, want explicit false", tb.Security.TLS)
	}
	if want := filepath.Join(dir, "state"); cfg.Gateway.DataFolderPath != want {
		t.Errorf("dataFolderPath = %q, want %q", cfg.Gateway.DataFolderPath, want)
	}
	if want := filepath.Join(dir, "state", "dl", "rejected.jsonl"); tb.DeadLetterFile != want {
		t.Errorf("deadLetterFile = %q, want %q", tb.DeadLetterFile, want)
	}
	if cfg.Storage.FullPolicy != FullPolicyDropOldest || cfg.Storage.MaxRecordsPerFile != 3 || cfg.Storage.MaxFileCount != 5 {
		t.Errorf("storage = %+v", cfg.Storage)
	}
	if c := cfg.Connectors[0]; c.File != filepath.Join(dir, "sub", "modbus.json") || string(c.Raw) != `{"master": {"slaves": []}}` {
		t.Errorf("connector = %+v", c)
	}
}

func TestValidateWithoutIO(t *testing.T) {
	cfg := defaults()
	cfg.File = "x.json"
	cfg.Thingsboard.Host = "h"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults + host: %v", err)
	}
	cfg.Thingsboard.MaxInflightMessages = 0
	want := "x.json: thingsboard.maxInflightMessages: expected an integer 1-65535, found 0"
	if err := cfg.Validate(); err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

func TestCheck(t *testing.T) {
	known := func(typ string) bool { return typ == "mqtt" || typ == "modbus" }
	warns, err := Check(filepath.Join("testdata", "all_connectors"), nil, known)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"opcua", "ble", "serial", "knx"} {
		if !slices.Contains(warns, "connector type "+typ+" is not supported yet") {
			t.Errorf("no warning for type %s in %q", typ, warns)
		}
	}
	for _, w := range warns {
		if strings.Contains(w, "type mqtt ") || strings.Contains(w, "type modbus ") {
			t.Errorf("warning for a known type: %q", w)
		}
	}
	if _, err := Check(t.TempDir(), nil, known); err == nil {
		t.Error("Check of an empty folder succeeded")
	}
	dir := writeFiles(t, map[string]string{"tb_gateway.json": `{"thingsboard": {"host": "h", "port": 0, "x": 1}}`})
	warns, err = Check(dir, nil, known)
	if err == nil || len(warns) != 1 || !strings.HasSuffix(warns[0], "thingsboard.x: unknown key, ignored") {
		t.Errorf("Check = %q, %v; want the unknown-key warning and an error", warns, err)
	}
}

func TestResolvePath(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if got := ResolvePath("/etc/gw.json", env(map[string]string{"TB_GW_CONFIG_DIR": "/cfg"})); got != "/etc/gw.json" {
		t.Errorf("flag: %q", got)
	}
	if got := ResolvePath("", env(map[string]string{"TB_GW_CONFIG_DIR": "/cfg"})); got != "/cfg" {
		t.Errorf("env: %q", got)
	}
	if got := ResolvePath("", nil); got != "./config/" {
		t.Errorf("default: %q", got)
	}
}

// TestConnectorTypeLowerCased: "OPCUA" or "Modbus" in the main file name the opcua and modbus connectors, as in the
// Python gateway.
func TestConnectorTypeLowerCased(t *testing.T) {
	dir := t.TempDir()
	main := `{"thingsboard":{"host":"h","security":{"accessToken":"T"}},"connectors":[
		{"type":"OPCUA","name":"O","configuration":"o.json"},{"type":"Modbus","name":"M","configuration":"m.json"}]}`
	for name, content := range map[string]string{"tb_gateway.json": main, "o.json": "{}", "m.json": "{}"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, _, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{cfg.Connectors[0].Type, cfg.Connectors[1].Type}; !slices.Equal(got, []string{"opcua", "modbus"}) {
		t.Errorf("connector types %q, want opcua and modbus", got)
	}
}
