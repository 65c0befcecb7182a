package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/runtime"
)

// sampleConnectorFiles lists every connector file shipped with the Python gateway's sample config and the
// connector type it belongs to (testdata/python-sample/tb_gateway.json lists them all).
var sampleConnectorFiles = []struct{ file, typ string }{
	{"mqtt.json", "mqtt"},
	{"modbus.json", "modbus"},
	{"modbus_serial.json", "modbus"},
	{"opcua.json", "opcua"},
	{"ble.json", "ble"},
	{"request.json", "request"},
	{"can.json", "can"},
	{"bacnet.json", "bacnet"},
	{"odbc.json", "odbc"},
	{"rest.json", "rest"},
	{"snmp.json", "snmp"},
	{"ftp.json", "ftp"},
	{"socket.json", "socket"},
	{"xmpp.json", "xmpp"},
	{"ocpp.json", "ocpp"},
	{"knx.json", "knx"},
	{"custom_serial.json", "serial"},
}

// TestCheckConfigPythonSamples runs `tbgateway check-config` on the Python gateway's sample folder with every
// sample connector file listed: it must exit 0, and exactly the connector types this binary does not build
// yet must be reported as "connector type X is not supported yet", once per connector.
func TestCheckConfigPythonSamples(t *testing.T) {
	dir := filepath.Join("testdata", "python-sample")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, s := range sampleConnectorFiles {
		listed[s.file] = true
	}
	notConnectors := map[string]bool{"tb_gateway.json": true, "logs.json": true, "list.json": true}
	for _, e := range entries {
		if !e.IsDir() && !listed[e.Name()] && !notConnectors[e.Name()] {
			t.Errorf("sample file %s is not in the table of connector files", e.Name())
		}
	}

	var stdout, stderr bytes.Buffer
	code := run([]string{"check-config", dir}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("check-config exited %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	out := stdout.String()
	want := map[string]int{}
	for _, s := range sampleConnectorFiles {
		if _, ok := tbgateway.LookupConnector(s.typ); !ok {
			want["connector type "+s.typ+" is not supported yet"]++
		}
	}
	for msg, n := range want {
		if got := strings.Count(out, "warning: "+msg+"\n"); got != n {
			t.Errorf("%q reported %d times, want %d\n%s", msg, got, n, out)
		}
	}
	if got, wantTotal := strings.Count(out, "warning: connector type "), len(sampleConnectorFiles)-countBuiltIn(); got != wantTotal {
		t.Errorf("%d \"not supported yet\" warnings, want %d (one per connector of a type not built in)\n%s", got, wantTotal, out)
	}
}

func countBuiltIn() int {
	n := 0
	for _, s := range sampleConnectorFiles {
		if _, ok := tbgateway.LookupConnector(s.typ); ok {
			n++
		}
	}
	return n
}

// TestCheckConfigErrors: a broken config exits 2 with the file and key named on stderr.
func TestCheckConfigErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tb_gateway.json"), []byte(`{"thingsboard":{"host":"h","port":"abc"},"connectors":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check-config", dir}, &stdout, &stderr); code != exitConfig {
		t.Fatalf("exit %d, want %d; stderr: %s", code, exitConfig, &stderr)
	}
	if msg := stderr.String(); !strings.Contains(msg, "tb_gateway.json") || !strings.Contains(msg, "thingsboard.port") {
		t.Fatalf("error does not name the file and key: %s", msg)
	}
}

// TestCheckConfigSimulatorErrors: a connector's own config error names the connector file and key path.
func TestCheckConfigSimulatorErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tb_gateway.json", `{"thingsboard":{"host":"h","security":{"accessToken":"T"}},"connectors":[{"type":"simulator","name":"Sim","configuration":"sim.json"}]}`)
	write("sim.json", `{"devices":[{"deviceName":"A","timeseries":[{"key":"t","type":"wave"}]}]}`)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check-config", dir}, &stdout, &stderr); code != exitConfig {
		t.Fatalf("exit %d, want %d; stdout: %s stderr: %s", code, exitConfig, &stdout, &stderr)
	}
	if msg := stderr.String(); !strings.Contains(msg, "sim.json") || !strings.Contains(msg, "devices[0].timeseries[0].type") {
		t.Fatalf("error does not name the connector file and key path: %s", msg)
	}
}

// TestVersion prints the version.
func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"version"}, &stdout, &stderr); code != exitOK || !strings.HasPrefix(stdout.String(), "tbgateway ") {
		t.Fatalf("version: exit %d, output %q", code, stdout.String())
	}
}

// TestCheckConfigBadConnectorFile: a connector file the gateway cannot run (a Modbus ASCII serial line) is an
// error naming the file and the key; check-config exits 2.
func TestCheckConfigBadConnectorFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tb_gateway.json", `{"thingsboard":{"host":"h","security":{"accessToken":"T"}},"connectors":[
		{"type":"simulator","name":"Sim","configuration":"sim.json"},
		{"type":"modbus","name":"Line","configuration":"line.json"}]}`)
	write("sim.json", `{"devices":[{"deviceName":"A","timeseries":[{"key":"t","type":"constant","value":1}]}]}`)
	write("line.json", `{"master":{"slaves":[{"type":"tcp","host":"h","method":"ascii","pollPeriod":1}]}}`)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check-config", dir}, &stdout, &stderr); code != exitConfig {
		t.Fatalf("exit %d, want %d; stdout: %s stderr: %s", code, exitConfig, &stdout, &stderr)
	}
	msg := stderr.String()
	if !strings.Contains(msg, filepath.Join(dir, "line.json")) || !strings.Contains(msg, "master.slaves[0].method") {
		t.Errorf("error does not name the connector file and key: %s", msg)
	}
	if strings.Contains(msg, "sim.json") {
		t.Errorf("the valid connector is reported: %s", msg)
	}
}

// Verdicts on a configuration.
const (
	verdictOK       = "runs"             // check-config exits 0; the gateway starts with every connector
	verdictRefused  = "refused"          // check-config exits 2; the gateway does not start
	verdictConnFail = "connector failed" // check-config exits 2; the gateway starts and reports that connector failed
)

// TestCheckConfigAndStartAgree runs check-config and the gateway's start on a table of configurations and
// requires the same verdict from both: check-config exits 2 exactly when the start refuses or reports a
// connector failed, with the start's message; and the verdict is the one the table expects (the Python gateway's
// rate-limit syntax is accepted, a provisioning-only config or saved credentials are accepted, a config without
// any credentials is refused naming the missing token).
func TestCheckConfigAndStartAgree(t *testing.T) {
	const sim = `{"devices":[{"deviceName":"A","timeseries":[{"key":"t","type":"constant","value":1}]}]}`
	main := func(tbExtra, connectors string) string {
		return `{"thingsboard":{"host":"127.0.0.1","port":1883` + tbExtra + `},"storage":{"type":"memory"},"connectors":[` + connectors + `]}`
	}
	const token = `,"security":{"accessToken":"T"}`
	const simConn = `{"type":"simulator","name":"Sim","configuration":"sim.json"}`
	cases := []struct {
		name    string
		main    string
		files   map[string]string
		env     map[string]string
		verdict string
		message string // part of the message both give, when not verdictOK
	}{
		{name: "token", main: main(token, simConn), verdict: verdictOK},
		{name: "username", main: main(`,"security":{"username":"u","password":"p"}`, simConn), verdict: verdictOK},
		{name: "rateLimits 0:0", main: main(token+`,"rateLimits":"0:0"`, simConn), verdict: verdictOK},
		{name: "rateLimits with ;", main: main(token+`,"rateLimits":"10:1;300:60"`, simConn), verdict: verdictOK},
		{name: "rateLimits with ,", main: main(token+`,"dpRateLimits":"10:1,300:60,"`, simConn), verdict: verdictOK},
		{name: "0:0 beside a window", main: main(token+`,"deviceDpRateLimits":"0:0,5:10"`, simConn), verdict: verdictOK},
		{name: "placeholder", main: main(token+`,"messagesRateLimits":"DEFAULT_MESSAGES_RATE_LIMIT"`, simConn), verdict: verdictOK},
		{name: "rateLimits without seconds", main: main(token+`,"rateLimits":"10"`, simConn), verdict: verdictRefused, message: "thingsboard.rateLimits"},
		{name: "rateLimits zero seconds", main: main(token+`,"deviceRateLimits":"5:0"`, simConn), verdict: verdictRefused, message: "thingsboard.deviceRateLimits"},
		{name: "rateLimits text", main: main(token+`,"deviceMessagesRateLimits":"10:1,x"`, simConn), verdict: verdictRefused, message: "thingsboard.deviceMessagesRateLimits"},
		{name: "env rate limits 0:0", main: main(token, simConn), env: map[string]string{"TB_GW_RATE_LIMITS": "0:0"}, verdict: verdictOK},
		{name: "env rate limits with ;", main: main(token, simConn), env: map[string]string{"TB_GW_DP_RATE_LIMITS": "10:1;300:60"}, verdict: verdictOK},
		{name: "env rate limits bad", main: main(token, simConn), env: map[string]string{"TB_GW_DP_RATE_LIMITS": "abc"}, verdict: verdictRefused, message: "TB_GW_DP_RATE_LIMITS"},
		{name: "provisioning only", main: main(`,"provisioning":{"provisionDeviceKey":"k","provisionDeviceSecret":"s"}`, simConn),
			verdict: verdictOK},
		{name: "provisioning MQTT_BASIC", main: main(`,"provisioning":{"type":"MQTT_BASIC","provisionDeviceKey":"k","provisionDeviceSecret":"s"}`, simConn),
			verdict: verdictOK},
		{name: "provisioning X509_CERTIFICATE", main: main(`,"provisioning":{"type":"X509_CERTIFICATE","provisionDeviceKey":"k","provisionDeviceSecret":"s","caCert":"ca.pem"}`, simConn),
			verdict: verdictOK},
		{name: "provisioning without secret", main: main(`,"provisioning":{"provisionDeviceKey":"k"}`, simConn),
			verdict: verdictRefused, message: "thingsboard.provisioning.provisionDeviceSecret"},
		{name: "provisioning from the environment only", main: main("", simConn),
			env:     map[string]string{"TB_GW_PROVISIONING_DEVICE_KEY": "k", "TB_GW_PROVISIONING_DEVICE_SECRET": "s"},
			verdict: verdictOK},
		{name: "saved credentials only", main: main("", simConn),
			files:   map[string]string{".credentials": `{"credentialsType": "ACCESS_TOKEN", "credentialsValue": "tok", "status": "SUCCESS"}`},
			verdict: verdictOK},
		{name: "saved credentials unusable", main: main(`,"provisioning":{"provisionDeviceKey":"k","provisionDeviceSecret":"s"}`, simConn),
			files:   map[string]string{".credentials": `{"credentialsType": "ACCESS_TOKEN"}`},
			verdict: verdictRefused, message: ".credentials: credentialsValue"},
		{name: "no credentials", main: main("", simConn), verdict: verdictRefused, message: "thingsboard.security.accessToken"},
		{name: "maxInflightMessages 0", main: main(token+`,"maxInflightMessages":0`, simConn), verdict: verdictRefused, message: "thingsboard.maxInflightMessages"},
		{name: "report strategy", main: main(token+`,"reportStrategy":{"type":"SOMETIMES"}`, simConn), verdict: verdictRefused, message: "thingsboard.reportStrategy.type"},
		{name: "unsupported connector type", main: main(token, simConn+`,{"type":"can","name":"B","configuration":"can.json"}`),
			files: map[string]string{"can.json": `{}`}, verdict: verdictOK},
		{name: "modbus ascii over tcp", main: main(token, simConn+`,{"type":"modbus","name":"M","configuration":"m.json"}`),
			files:   map[string]string{"m.json": `{"master":{"slaves":[{"type":"tcp","host":"h","method":"ascii","pollPeriod":1}]}}`},
			verdict: verdictConnFail, message: "master.slaves[0].method"},
		{name: "modbus address range", main: main(token, simConn+`,{"type":"modbus","name":"M","configuration":"m.json"}`),
			files: map[string]string{"m.json": `{"master":{"slaves":[{"type":"tcp","host":"127.0.0.1","port":502,"pollPeriod":1000,"deviceName":"D",
				"timeseries":[{"tag":"t","type":"16int","functionCode":3,"address":"0-3"}]}]}}`},
			verdict: verdictOK},
		{name: "modbus reversed address range", main: main(token, simConn+`,{"type":"modbus","name":"M","configuration":"m.json"}`),
			files: map[string]string{"m.json": `{"master":{"slaves":[{"type":"tcp","host":"127.0.0.1","port":502,"pollPeriod":1000,"deviceName":"D",
				"timeseries":[{"tag":"t","type":"16int","functionCode":3,"address":"3-0"}]}]}}`},
			verdict: verdictConnFail, message: "timeseries[0].address"},
		{name: "missing connector file", main: main(token, simConn+`,{"type":"modbus","name":"M","configuration":"none.json"}`),
			verdict: verdictConnFail, message: "connectors[1].configuration"},
		{name: "connector report strategy", main: main(token, `{"type":"simulator","name":"Sim","configuration":"bad.json"}`),
			files:   map[string]string{"bad.json": `{"reportStrategy":{"type":"SOMETIMES"},"devices":[{"deviceName":"A","timeseries":[{"key":"t","type":"constant","value":1}]}]}`},
			verdict: verdictConnFail, message: "reportStrategy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{"tb_gateway.json": tc.main, "sim.json": sim}
			for name, body := range tc.files {
				files[name] = body
			}
			for name, body := range files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run([]string{"check-config", dir}, &stdout, &stderr)

			startVerdict, startMsgs := verdictOK, []string(nil)
			gw, err := startGateway(dir, os.Getenv, slog.New(slog.DiscardHandler))
			if err != nil {
				startVerdict, startMsgs = verdictRefused, []string{err.Error()}
			} else {
				for name, c := range gw.Stats().Connectors {
					if c.State == runtime.StateFailed {
						startVerdict = verdictConnFail
						startMsgs = append(startMsgs, `connector "`+name+`": `+c.Error)
					}
				}
			}
			checkSaysError := code == exitConfig
			if checkSaysError != (startVerdict != verdictOK) {
				t.Fatalf("check-config exited %d (%s), the start: %s %q", code, &stderr, startVerdict, startMsgs)
			}
			if code != exitOK && code != exitConfig {
				t.Fatalf("check-config exited %d", code)
			}
			for _, m := range startMsgs {
				if !strings.Contains(stderr.String(), m) {
					t.Errorf("check-config says\n%s\nthe start says\n%s", &stderr, m)
				}
			}
			if startVerdict != tc.verdict {
				t.Errorf("verdict %q (%q), want %q", startVerdict, startMsgs, tc.verdict)
			}
			if tc.message != "" && !strings.Contains(stderr.String(), tc.message) {
				t.Errorf("the message does not name %q: %s", tc.message, &stderr)
			}
		})
	}
}
