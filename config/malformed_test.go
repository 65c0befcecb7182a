package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles writes name -> content into a new temporary folder and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tb wraps thingsboard keys (after a valid host and token) and extra top-level sections into a main file.
func tb(thingsboardExtra, topExtra string) string {
	s := `{"thingsboard": {"host": "tb.local", "security": {"accessToken": "T"}` + thingsboardExtra + `}`
	return s + topExtra + "}"
}

func TestMalformedConfigs(t *testing.T) {
	const mainJSON = "DIR/tb_gateway.json"
	cases := []struct {
		name  string
		files map[string]string
		want  string // exact error text; DIR stands for the folder
	}{
		{"bad JSON names line and column",
			map[string]string{"tb_gateway.json": "{\n  \"thingsboard\": {\n    \"host\": \"x\",\n  }\n}"},
			mainJSON + `:4:3: invalid JSON: invalid character '}' looking for beginning of object key string`},
		{"truncated JSON",
			map[string]string{"tb_gateway.json": "{\n  \"thingsboard\": {"},
			mainJSON + `:2:19: invalid JSON: unexpected end of file`},
		{"extra data after the object",
			map[string]string{"tb_gateway.json": tb("", "") + "\n{}"},
			mainJSON + `:2:1: invalid JSON: extra data after the top-level value`},
		{"top level is not an object",
			map[string]string{"tb_gateway.json": `[1, 2]`},
			mainJSON + `: (top level): expected an object, found a list`},
		{"port is a string",
			map[string]string{"tb_gateway.json": tb(`, "port": "abc"`, "")},
			mainJSON + `: thingsboard.port: expected an integer 1-65535, found "abc"`},
		{"port out of range",
			map[string]string{"tb_gateway.json": tb(`, "port": 70000`, "")},
			mainJSON + `: thingsboard.port: expected an integer 1-65535, found 70000`},
		{"port is a fraction",
			map[string]string{"tb_gateway.json": tb(`, "port": 1883.5`, "")},
			mainJSON + `: thingsboard.port: expected an integer 1-65535, found 1883.5`},
		{"wrong type at a nested path",
			map[string]string{"tb_gateway.json": `{"thingsboard": {"host": "h", "security": {"type": 5, "accessToken": "T"}}}`},
			mainJSON + `: thingsboard.security.type: expected a string, found 5`},
		{"invalid security type",
			map[string]string{"tb_gateway.json": `{"thingsboard": {"host": "h", "security": {"type": "token", "accessToken": "T"}}}`},
			mainJSON + `: thingsboard.security.type: expected one of accessToken, usernamePassword, tlsAccessToken, tlsPrivateKey, found "token"`},
		{"accessToken type without a token",
			map[string]string{"tb_gateway.json": `{"thingsboard": {"host": "h", "security": {"type": "accessToken"}}}`},
			mainJSON + `: thingsboard.security.accessToken: expected an access token (security type accessToken), found nothing`},
		{"missing host",
			map[string]string{"tb_gateway.json": `{"thingsboard": {"port": 1883}}`},
			mainJSON + `: thingsboard.host: expected a host name or address, found nothing`},
		{"missing thingsboard section",
			map[string]string{"tb_gateway.json": `{"storage": {}}`},
			mainJSON + `: thingsboard: expected an object with at least "host", found nothing`},
		{"thingsboard is a list",
			map[string]string{"tb_gateway.json": `{"thingsboard": []}`},
			mainJSON + `: thingsboard: expected an object, found a list`},
		{"qos 2",
			map[string]string{"tb_gateway.json": tb(`, "qos": 2`, "")},
			mainJSON + `: thingsboard.qos: expected 0 or 1, found 2`},
		{"boolean written as a string",
			map[string]string{"tb_gateway.json": tb(`, "remoteShell": "yes"`, "")},
			mainJSON + `: thingsboard.remoteShell: expected true or false, found "yes"`},
		{"null number",
			map[string]string{"tb_gateway.json": tb(`, "keep_alive": null`, "")},
			mainJSON + `: thingsboard.keep_alive: expected an integer 0-65535, found null`},
		{"bad reportStrategy type",
			map[string]string{"tb_gateway.json": tb(`, "reportStrategy": {"type": "ON_CHANGES"}`, "")},
			mainJSON + `: thingsboard.reportStrategy.type: expected one of ON_RECEIVED, ON_CHANGE, ON_REPORT_PERIOD, ON_CHANGE_OR_REPORT_PERIOD, DISABLED, found "ON_CHANGES"`},
		{"reportPeriod zero",
			map[string]string{"tb_gateway.json": tb(`, "reportStrategy": {"type": "ON_REPORT_PERIOD", "reportPeriod": 0}`, "")},
			mainJSON + `: thingsboard.reportStrategy.reportPeriod: expected an integer >= 1, found 0`},
		{"bad rate-limit string",
			map[string]string{"tb_gateway.json": tb(`, "rateLimits": "10:x"`, "")},
			mainJSON + `: thingsboard.rateLimits: expected "cap:seconds[,cap:seconds...]" or a DEFAULT_* placeholder, found "10:x"`},
		{"unknown storage type",
			map[string]string{"tb_gateway.json": tb("", `, "storage": {"type": "redis"}`)},
			mainJSON + `: storage.type: expected one of memory, file, sqlite, found "redis"`},
		{"negative count",
			map[string]string{"tb_gateway.json": tb("", `, "storage": {"type": "memory", "max_records_count": -5}`)},
			mainJSON + `: storage.max_records_count: expected an integer >= 1, found -5`},
		{"unknown full policy",
			map[string]string{"tb_gateway.json": tb("", `, "storage": {"fullPolicy": "drop-newest"}`)},
			mainJSON + `: storage.fullPolicy: expected one of refuse-new, drop-oldest, found "drop-newest"`},
		{"backoff cap below its start",
			map[string]string{"tb_gateway.json": tb(`, "reconnectMinDelaySeconds": 5, "reconnectMaxDelaySeconds": 2`, "")},
			mainJSON + `: thingsboard.reconnectMaxDelaySeconds: expected a number >= reconnectMinDelaySeconds (5), found 2`},
		{"grpc port wrong type",
			map[string]string{"tb_gateway.json": tb("", `, "grpc": {"serverPort": true}`)},
			mainJSON + `: grpc.serverPort: expected an integer 0-65535 (0: a free port chosen by the system), found true`},
		{"connectors is not a list",
			map[string]string{"tb_gateway.json": tb("", `, "connectors": {"type": "mqtt"}`)},
			mainJSON + `: connectors: expected a list, found an object`},
		{"connector without a name",
			map[string]string{"tb_gateway.json": tb("", `, "connectors": [{"type": "mqtt", "configuration": "mqtt.json"}]`),
				"mqtt.json": `{}`},
			mainJSON + `: connectors[0].name: expected a connector name, found nothing`},
		{"duplicate connector names",
			map[string]string{"tb_gateway.json": tb("", `, "connectors": [{"type": "mqtt", "name": "A", "configuration": "m.json"},
				{"type": "modbus", "name": "A", "configuration": "m.json"}]`), "m.json": `{}`},
			mainJSON + `: connectors[1].name: expected a name not used by connectors[0], found "A"`},
		{"missing connector file",
			map[string]string{"tb_gateway.json": tb("", `, "connectors": [{"type": "mqtt", "name": "M", "configuration": "mqtt.json"}]`)},
			mainJSON + `: connectors[0].configuration: expected a readable connector configuration file, found "DIR/mqtt.json" (no such file)`},
		{"connector file with a syntax error",
			map[string]string{"tb_gateway.json": tb("", `, "connectors": [{"type": "mqtt", "name": "M", "configuration": "mqtt.json"}]`),
				"mqtt.json": "{\"broker\": {\"host\": 1 2}}"},
			`DIR/mqtt.json:1:23: invalid JSON: invalid character '2' after object key:value pair`},
		{"connector file is not an object",
			map[string]string{"tb_gateway.json": tb("", `, "connectors": [{"type": "mqtt", "name": "M", "configuration": "mqtt.json"}]`),
				"mqtt.json": `"broker"`},
			`DIR/mqtt.json: (top level): expected an object, found "broker"`},
		{"bad YAML names the line",
			map[string]string{"tb_gateway.yaml": "thingsboard:\n  host: h\n  port: [1\n"},
			`DIR/tb_gateway.yaml: invalid YAML near line 2: did not find expected ',' or ']'`},
		{"YAML wrong type has the JSON message",
			map[string]string{"tb_gateway.yaml": "thingsboard:\n  host: h\n  security: {accessToken: T}\n  port: abc\n"},
			`DIR/tb_gateway.yaml: thingsboard.port: expected an integer 1-65535, found "abc"`},
		{"YAML nested wrong type",
			map[string]string{"tb_gateway.yaml": "thingsboard:\n  host: h\n  security:\n    accessToken: T\n    insecure: [1]\n"},
			`DIR/tb_gateway.yaml: thingsboard.security.insecure: expected true or false, found a list`},
	}
	// The errors of one connector's file are that connector's alone: Load succeeds with the error in
	// Connectors[0].Err, and Check reports it.
	connectorErrors := map[string]bool{
		"missing connector file": true, "connector file with a syntax error": true, "connector file is not an object": true,
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			cfg, _, err := Load(dir, nil)
			if connectorErrors[tc.name] {
				if err != nil || cfg == nil || len(cfg.Connectors) == 0 {
					t.Fatalf("Load = %v; want the Config, the connector's error in Connectors[0].Err", err)
				}
				err = cfg.Connectors[0].Err
				if _, cerr := Check(dir, nil, nil); cerr == nil || err == nil || cerr.Error() != err.Error() {
					t.Errorf("Check = %v, want the connector's error %v", cerr, err)
				}
				cfg = nil
			}
			if err == nil {
				t.Fatalf("Load succeeded, want error %q", tc.want)
			}
			if cfg != nil {
				t.Errorf("Load returned a Config with an error")
			}
			want := strings.ReplaceAll(tc.want, "DIR", dir)
			if err.Error() != want {
				t.Errorf("error text\n got: %s\nwant: %s", err.Error(), want)
			}
			var ce *Error
			var se *SyntaxError
			if !errors.As(err, &ce) && !errors.As(err, &se) {
				t.Errorf("error %T is neither *Error nor *SyntaxError", err)
			}
		})
	}
}

func TestSeveralErrorsAreAllReported(t *testing.T) {
	dir := writeFiles(t, map[string]string{"tb_gateway.json": tb(`, "port": 0, "qos": 3`, `, "storage": {"type": "tape"}`)})
	_, _, err := Load(dir, nil)
	if err == nil {
		t.Fatal("want errors")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"thingsboard.port: expected", "thingsboard.qos: expected", "storage.type: expected"}
	if len(lines) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("error %d = %q, want it to contain %q", i, lines[i], w)
		}
	}
}

func TestMissingMainFile(t *testing.T) {
	dir := t.TempDir()
	_, _, err := Load(dir, nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(empty folder) = %v, want fs.ErrNotExist", err)
	}
	want := "configuration folder " + dir + " holds neither tb_gateway.json nor tb_gateway.yaml: file does not exist"
	if err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if _, _, err := Load(filepath.Join(dir, "nope.json"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing file) = %v, want fs.ErrNotExist", err)
	}
}
