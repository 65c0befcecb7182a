package ble

import (
	"os"
	"strings"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// sampleFile is the Python gateway's sample config/ble.json, unchanged.
const sampleFile = "testdata/ble.json"

// TestSampleConfig: the Python gateway's sample ble.json decodes with Python's meaning and no warnings.
func TestSampleConfig(t *testing.T) {
	raw, err := os.ReadFile(sampleFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg, warns, err := Decode("ble.json", raw)
	if err != nil || len(warns) > 0 {
		t.Fatalf("Decode: %v, warnings %q", err, warns)
	}
	if !cfg.PassiveScanMode || cfg.ScanDeviceName != "Device name" || cfg.ScanWindow != 10*time.Second ||
		cfg.ScanPeriod != 5*time.Second {
		t.Errorf("scanner settings: %+v", cfg)
	}
	d := cfg.Devices[0]
	if d.MAC != "4C:65:A8:DF:85:C0" || d.PollPeriod != 500*time.Second || d.Timeout != 10*time.Second ||
		d.ConnectRetry != 5 || d.WaitAfterConnectRetries != 10*time.Second || d.DeviceType != "default" {
		t.Errorf("device: %+v", d)
	}
	if len(d.Telemetry) != 2 || d.Telemetry[0].Method != MethodNotify ||
		d.Telemetry[0].UUID != "226caa55-6476-4566-7562-66734470666d" || d.Attributes[0].ValueExpression != "[0:2]cm [2:]A" {
		t.Errorf("keys: %+v %+v", d.Telemetry, d.Attributes)
	}
	if len(d.RPC) != 3 || d.RPC[2].Processing != ProcScan || d.AttributeUpdates[0].UUID != "00002a00-0000-1000-8000-00805f9b34fb" {
		t.Errorf("downlink: %+v %+v", d.RPC, d.AttributeUpdates)
	}
	if _, err := Check(tbgateway.ConnectorConfig{Name: "BLE", File: "ble.json", Raw: raw}); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// TestConfigErrors: bad input is refused with the file, the key path and what was expected.
func TestConfigErrors(t *testing.T) {
	dev := func(extra string) string {
		return `{"devices": [{"name": "d", "MACAddress": "AA:BB:CC:DD:EE:FF"` + extra + `}]}`
	}
	for _, tc := range []struct{ raw, want string }{
		{`{"devices": []}`, "f.json: devices: expected at least one device"},
		{`{"devices": [{"name": "d", "MACAddress": "AABBCC"}]}`, `f.json: devices[0].MACAddress: expected a MAC address AA:BB:CC:DD:EE:FF, found "AABBCC"`},
		{`{"devices": [{"MACAddress": "AA:BB:CC:DD:EE:FF"}]}`, "f.json: devices[0].name: expected the device's name"},
		{dev(`, "telemetry": [{"key": "t", "characteristicUUID": "xyz"}]`), `devices[0].telemetry[0].characteristicUUID: expected a UUID`},
		{dev(`, "telemetry": [{"key": "t"}]`), `devices[0].telemetry[0].characteristicUUID: expected a characteristic UUID, found nothing`},
		{dev(`, "telemetry": [{"key": "t", "characteristicUUID": "2a00", "method": "poll"}]`), `devices[0].telemetry[0].method: expected one of read, notify`},
		{dev(`, "telemetry": [{"key": "t", "dataSourceType": "advertisement", "compute": "value / 10"}]`), `devices[0].telemetry[0].compute: is a Python expression, which this gateway does not run`},
		{dev(`, "telemetry": [{"key": "t", "characteristicUUID": "2a00", "valueExpression": "[a]"}]`), `devices[0].telemetry[0].valueExpression: [a]: expected an integer byte index`},
		{dev(`, "type": "text"`), `devices[0].type: expected one of bytes, hex`},
		{dev(`, "serverSideRpc": [{"methodRPC": "m", "methodProcessing": "notify"}]`), `devices[0].serverSideRpc[0].methodProcessing: expected one of read, write, scan`},
		{dev(`, "serverSideRpc": [{"methodRPC": "m", "methodProcessing": "read"}]`), `devices[0].serverSideRpc[0].characteristicUUID: expected a characteristic UUID, found nothing`},
		{`{"devices": [{"name": "d", "MACAddress": "AA:BB:CC:DD:EE:FF"}, {"name": "d", "MACAddress": "AA:BB:CC:DD:EE:00"}]}`, `devices[1].name: device name "d" is also used by devices[0]`},
		{`{"devices": [{"name": "d", "MACAddress": "AA:BB:CC:DD:EE:FF"}, {"name": "e", "MACAddress": "aa:bb:cc:dd:ee:ff"}]}`, `devices[1].MACAddress: MAC address AA:BB:CC:DD:EE:FF is also used by devices[0]`},
	} {
		_, err := Check(tbgateway.ConnectorConfig{File: "f.json", Raw: []byte(tc.raw)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%s) = %v, want %q", tc.raw, err, tc.want)
		}
	}
}

// TestConfigWarnings: unknown keys and a custom converter that is not compiled in are warned about, not refused.
func TestConfigWarnings(t *testing.T) {
	raw := `{"colour": 1, "devices": [{"name": "d", "MACAddress": "AA:BB:CC:DD:EE:FF", "extension": "NoSuchConverter",
		"telemetry": [{"key": "t", "characteristicUUID": "2a00", "colour": 2}]}]}`
	warns, err := Check(tbgateway.ConnectorConfig{File: "f.json", Raw: []byte(raw)})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(warns, "\n")
	for _, want := range []string{"f.json: colour: unknown key", "f.json: devices[0].telemetry[0].colour: unknown key",
		`f.json: devices[0].extension: no converter "NoSuchConverter" is compiled into this binary`} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings %q lack %q", warns, want)
		}
	}
}

// TestNormalUUID: 16-, 32- and 128-bit spellings become one form.
func TestNormalUUID(t *testing.T) {
	for in, want := range map[string]string{
		"2A00":                                 "00002a00-0000-1000-8000-00805f9b34fb",
		"00002a00":                             "00002a00-0000-1000-8000-00805f9b34fb",
		"226CAA55-6476-4566-7562-66734470666D": "226caa55-6476-4566-7562-66734470666d",
		"226CAA556476456675626673447066 6D":    "",
		"226caa55647645667562667344706 66d":    "",
	} {
		got, ok := NormalUUID(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalUUID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// FuzzDecode: decoding any input never panics; what decodes also compiles.
func FuzzDecode(f *testing.F) {
	if raw, err := os.ReadFile(sampleFile); err == nil {
		f.Add(raw)
	}
	f.Add([]byte(`{"devices": [{"name": "d", "MACAddress": "AA:BB:CC:DD:EE:FF", "telemetry": [{"key": "k", "dataSourceType": "advertisement", "valueExpression": "[0:2]"}]}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, _, err := Decode("f.json", raw)
		if err != nil {
			return
		}
		if _, err := compile("f.json", cfg); err != nil && !strings.Contains(err.Error(), "valueExpression") {
			t.Fatalf("a decoded config does not compile: %v", err)
		}
	})
}

// TestConfigExpressionDevice: a device with "extension": "expression" has its expression keys read by the
// converter (no unknown-key warnings), and an expression that does not compile is refused at its key path.
func TestConfigExpressionDevice(t *testing.T) {
	dev := func(expr string) string {
		return `{"devices": [{"name": "d", "MACAddress": "AA:BB:CC:DD:EE:FF", "extension": "expression",
			"expression": ` + expr + `, "extensionConfig": {"k": "t"}, "maxRecords": 5}]}`
	}
	warns, err := Check(tbgateway.ConnectorConfig{File: "f.json", Raw: []byte(dev(`"{telemetry: {(config.k): 1}}"`))})
	if err != nil || len(warns) > 0 {
		t.Errorf("valid expression device: %v, warnings %q", err, warns)
	}
	_, err = Check(tbgateway.ConnectorConfig{File: "f.json", Raw: []byte(dev(`"{telemetry: "`))})
	if want := "f.json: devices[0].expression: line 1"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("expression that does not compile: %v, want %q", err, want)
	}
}
