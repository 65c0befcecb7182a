package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbgateway/tbgateway"
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
	write("line.json", `{"master":{"slaves":[{"type":"serial","method":"ascii","port":"/dev/ttyS0","pollPeriod":1}]}}`)
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
