package modbus_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/internal/modbusproto"
)

// TestSlaveConfigDecode: the identity keys the Python gateway reads become their Read Device Identification
// objects (with the gateway's version as MajorMinorRevision), "modelName" spelt otherwise is an unknown key; an
// empty identity sets no objects; serial line settings are read; security with a type other than tls is a
// warning, while type tls, or type tcp with method tls, serve TLS with it; an identity value too long for a
// response is an error naming its key.
func TestSlaveConfigDecode(t *testing.T) {
	cfg, warns, err := modbus.Decode([]byte(`{"slave": {"type": "tcp", "port": 0, "security": {"certfile": "c.pem"},
		"identity": {"vendorName": "V", "productCode": "P", "vendorUrl": "U", "productName": "N", "ModelName": "M", "modelName": "m"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	id := cfg.Slave.Identity
	want := map[byte]string{modbusproto.ObjVendorName: "V", modbusproto.ObjProductCode: "P", modbusproto.ObjVendorURL: "U",
		modbusproto.ObjProductName: "N", modbusproto.ObjModelName: "M", modbusproto.ObjMajorMinorRevision: id[modbusproto.ObjMajorMinorRevision]}
	if !maps.Equal(id, want) || id[modbusproto.ObjMajorMinorRevision] == "" {
		t.Errorf("identity objects %v, want %v with a revision", id, want)
	}
	joined := strings.Join(warns, "\n")
	if !strings.Contains(joined, "slave.identity.modelName") || !strings.Contains(joined, "slave.security") {
		t.Errorf("warnings %q: want slave.identity.modelName unknown and slave.security ignored", warns)
	}

	cfg, _, err = modbus.Decode([]byte(`{"slave": {"type": "serial", "port": "/dev/ttyUSB0", "baudrate": 9600, "parity": "E", "identity": {}}}`))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Slave.Device
	if d.SerialPort != "/dev/ttyUSB0" || d.Method != "rtu" || d.Baudrate != 9600 || d.Parity != "E" || d.Bytesize != 8 || d.Stopbits != 1 {
		t.Errorf("serial slave %+v", d)
	}
	if ids := slices.Collect(maps.Values(cfg.Slave.Identity)); slices.ContainsFunc(ids, func(v string) bool { return v != "" }) {
		t.Errorf("empty identity set objects: %v", cfg.Slave.Identity)
	}

	for _, c := range []string{`"type": "tcp", "method": "tls"`, `"type": "tls", "method": "tls"`, `"type": "tls"`} {
		cfg, _, err = modbus.Decode([]byte(`{"slave": {` + c + `, "port": 0, "security": {"certfile": "c.pem", "keyfile": "k.pem"}}}`))
		if err != nil || cfg.Slave.TLS == nil || cfg.Slave.TLS.CertFile != "c.pem" || cfg.Slave.TLS.KeyFile != "k.pem" {
			t.Errorf("%s with security: %v; want TLS served with c.pem and k.pem", c, err)
		}
	}

	_, _, err = modbus.Decode([]byte(`{"slave": {"identity": {"vendorName": "` + strings.Repeat("x", 245) + `"}}}`))
	if err == nil || !strings.Contains(err.Error(), "slave.identity.vendorName") {
		t.Errorf("a 245-byte vendorName: %v; want an error naming slave.identity.vendorName", err)
	}
}

// TestSlaveBroadcastUnitWarned: unit 0 with RTU or ASCII framing is the broadcast address, never answered: a
// warning names slave.unitId; over socket framing unit 0 is an ordinary unit.
func TestSlaveBroadcastUnitWarned(t *testing.T) {
	for raw, want := range map[string]bool{
		`{"slave": {"type": "serial", "port": "/dev/ttyS0", "unitId": 0}}`:                    true,
		`{"slave": {"type": "tcp", "port": 0, "method": "rtu"}}`:                              true,
		`{"slave": {"type": "serial", "port": "/dev/ttyS0", "method": "ascii", "unitId": 1}}`: false,
		`{"slave": {"type": "tcp", "port": 0, "unitId": 0}}`:                                  false,
	} {
		_, warns, err := modbus.Decode([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		got := strings.Contains(strings.Join(warns, "\n"), "slave.unitId: unit 0 is the broadcast address")
		if got != want {
			t.Errorf("%s: warnings %q, want the broadcast warning %v", raw, warns, want)
		}
	}
}
