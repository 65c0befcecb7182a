package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pythonSampleFilter is the Python gateway's sample list.json.
const pythonSampleFilter = "../config/testdata/corpus/list.json" // a copy of the Python sample

func TestDeviceFilterSemantics(t *testing.T) {
	const file = `{
	  "deny":  {"MQTT": ["Temperature Device", "(^[a-z]+@[a-z]+\\.com$)", "shared.*"], "Modbus": ["My Modbus Device"]},
	  "allow": {"MQTT": ["My Temperature Sensor", "shared-1", "room-[0-9]+"], "Empty": []}
	}`
	f, warns, err := ParseDeviceFilter("list.json", []byte(file))
	if err != nil || len(warns) != 0 {
		t.Fatalf("ParseDeviceFilter: %v %v", warns, err)
	}
	cases := []struct {
		connector, device string
		want              bool
		why               string
	}{
		{"MQTT", "Temperature Device", false, "denied by name"},
		{"MQTT", "joe@example.com", false, "denied by regex"},
		{"MQTT", "shared-1", false, "deny wins over allow"},
		{"MQTT", "My Temperature Sensor", true, "allowed"},
		{"MQTT", "room-12", true, "allowed by regex"},
		{"MQTT", "room-12b", false, "allow matches in full only"},
		{"MQTT", "Other", false, "allow lists patterns for MQTT: others are refused"},
		{"MQTT", "xTemperature Device", false, "not denied (full match), not allowed"},
		{"Modbus", "My Modbus Device", false, "denied"},
		{"Modbus", "Another", true, "no allow list for Modbus: everything not denied passes"},
		{"Modbus", "My Modbus Device 2", true, "deny matches in full only"},
		{"Empty", "x", true, "an empty allow list restricts nothing"},
		{"mqtt", "Temperature Device", true, "connectors are matched by exact name"},
		{"OPC-UA", "anything", true, "connector not listed"},
	}
	for _, c := range cases {
		if got := f.Allows(c.connector, c.device); got != c.want {
			t.Errorf("Allows(%q, %q) = %v, want %v (%s)", c.connector, c.device, got, c.want, c.why)
		}
	}
	var none *DeviceFilter
	if !none.Allows("MQTT", "Temperature Device") {
		t.Error("a nil filter refused a device")
	}
}

func TestDeviceFilterPythonSample(t *testing.T) {
	data, err := os.ReadFile(pythonSampleFilter)
	if err != nil {
		t.Fatal(err)
	}
	f, warns, err := ParseDeviceFilter("list.json", data)
	if err != nil || len(warns) != 0 {
		t.Fatalf("the Python sample list.json: %v %v", warns, err)
	}
	if f.Allows("MQTT Broker Connector", "Temperature Device") || f.Allows("MQTT Broker Connector", "a.b@host.org") ||
		f.Allows("Modbus Connector", "My Modbus Device") || !f.Allows("MQTT Broker Connector", "My Temperature Sensor") {
		t.Fatal("the Python sample's deny/allow entries not applied")
	}
}

func TestDeviceFilterErrorsNameFileAndKey(t *testing.T) {
	cases := []struct{ file, want string }{
		{`{"deny": {"MQTT Broker": ["ok", "(unclosed"]}}`, `list.json: deny["MQTT Broker"][1]: invalid regular expression "(unclosed"`},
		{`{"allow": {"Modbus": ["(?=lookahead)"]}}`, `list.json: allow.Modbus[0]: invalid regular expression`},
		{`{"deny": {"Modbus": [3]}}`, `list.json: deny.Modbus[0]: expected a regular expression (a string), found 3`},
		{`{"deny": {"Modbus": "x"}}`, `list.json: deny.Modbus: expected a list`},
		{`{"deny": ["x"]}`, `list.json: deny: expected an object`},
		{`{"deny": `, `list.json`},
	}
	for _, c := range cases {
		_, _, err := ParseDeviceFilter("list.json", []byte(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseDeviceFilter(%s) = %v, want an error containing %q", c.file, err, c.want)
		}
	}
	if _, warns, err := ParseDeviceFilter("list.json", []byte(`{"deny": {}, "alow": {}}`)); err != nil || len(warns) != 1 || !strings.Contains(warns[0], "alow") {
		t.Errorf("unknown key: warnings %v, err %v; want one warning naming alow", warns, err)
	}
}

func TestCheckConfigReportsDeviceFilterFile(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "tb_gateway.json")
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("tb_gateway.json", `{"thingsboard": {"host": "localhost", "security": {"type": "accessToken", "accessToken": "t"},
	  "deviceFiltering": {"enable": true, "filterFile": "filters.json"}}, "storage": {"type": "memory"}, "connectors": []}`)
	_, err := CheckConfig(main, nil)
	if err == nil || !strings.Contains(err.Error(), "thingsboard.deviceFiltering.filterFile") || !strings.Contains(err.Error(), "filters.json") {
		t.Fatalf("missing filter file: %v; want an error naming the key and the file", err)
	}
	write("filters.json", `{"deny": {"c": ["[z-a]"]}}`)
	_, err = CheckConfig(main, nil)
	if err == nil || !strings.Contains(err.Error(), "filters.json") || !strings.Contains(err.Error(), "deny.c[0]") {
		t.Fatalf("invalid filter file: %v; want an error naming the file and deny.c[0]", err)
	}
	write("filters.json", `{"deny": {"c": ["x"]}}`)
	if _, err = CheckConfig(main, nil); err != nil {
		t.Fatalf("valid filter file: %v", err)
	}
}
