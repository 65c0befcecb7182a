package modbus

import (
	"testing"

	"github.com/tbgateway/tbgateway/internal/modbusproto"
)

// TestSerialConfig: a serial slave's baudrate, bytesize, parity and stopbits reach the serial port, for RTU and
// ASCII alike.
func TestSerialConfig(t *testing.T) {
	for _, method := range []string{"rtu", "ascii"} {
		cfg, _, err := Decode([]byte(`{"master":{"slaves":[{"type":"serial","method":"` + method + `","port":"/dev/ttyS3",
			"baudrate":4800,"bytesize":7,"parity":"E","stopbits":2,"pollPeriod":1}]}}`))
		if err != nil {
			t.Fatal(err)
		}
		want := modbusproto.SerialConfig{Device: "/dev/ttyS3", Baudrate: 4800, DataBits: 7, Parity: "E", StopBits: 2}
		if got := serialConfig(cfg.Devices[0]); got != want {
			t.Errorf("%s: %+v, want %+v", method, got, want)
		}
	}
}
