package modbus

import (
	"math"
	"runtime/debug"
	"strings"

	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/modbusproto"
)

// SlaveConfig is the "slave" section: the gateway serving registers as a Modbus slave over TCP, TLS or UDP
// (MBAP or RTU framing) or a serial line (RTU or ASCII).
type SlaveConfig struct {
	// Addr is the host:port listened on (tcp, tls, udp).
	Addr string
	// Device holds the name, type, unit id, poll period and the items (their FunctionCode names the table), and
	// the transport: Transport (tcp, tls, udp, serial), Method (socket and tls: MBAP framing; rtu; ascii), and
	// for serial the port and its line settings.
	Device *Device
	// Send says whether the served values are polled and sent to ThingsBoard ("sendDataToThingsBoard").
	Send bool
	// TLS is the "security" section of type tls, or of type tcp with method tls: the server's certificate and
	// key files. The server speaks TLS exactly when it is set.
	TLS *SlaveTLS
	// Identity holds the Read Device Identification objects (function 43/14) by object id; empty when the
	// "identity" section is absent or empty, as the Python gateway then sets no identity.
	Identity map[byte]string
}

// SlaveTLS is the slave section's "security" object. Clients are not asked for a certificate, as in the Python
// gateway.
type SlaveTLS struct {
	CertFile, KeyFile string
	Password          string // decrypts an encrypted PEM key (legacy "Proc-Type: 4,ENCRYPTED")
}

var slaveTables = []struct {
	key string
	fc  int
}{{"holding_registers", 3}, {"coils_initializer", 1}, {"input_registers", 4}, {"discrete_inputs", 2}}

// identityKeys are the "identity" keys the Python gateway reads, with the object each sets (its MajorMinorRevision
// is its own version, not a key). "ModelName" is spelt with a capital M there.
var identityKeys = []struct {
	key string
	id  byte
}{{"vendorName", modbusproto.ObjVendorName}, {"productCode", modbusproto.ObjProductCode},
	{"vendorUrl", modbusproto.ObjVendorURL}, {"productName", modbusproto.ObjProductName},
	{"ModelName", modbusproto.ObjModelName}}

func decodeSlave(o *confjson.Object) *SlaveConfig {
	d := o.Decoder()
	cfg := &SlaveConfig{}
	transport := o.OneOf("type", "tcp", "tcp", "tls", "udp", "serial")
	method := strings.ToLower(o.String("method", "socket"))
	dev := &Device{Path: o.Path(), Transport: transport, Method: method}
	switch transport {
	case "serial":
		if method == "socket" && !o.Has("method") {
			dev.Method = "rtu"
		}
		if dev.Method != "rtu" && dev.Method != "ascii" {
			d.Failf(o.Key("method"), "slave mode with method %q over serial is not supported (have rtu, ascii)", method)
		}
		if dev.SerialPort = o.String("port", ""); dev.SerialPort == "" {
			d.FailMissing(o.Key("port"), "the serial device (e.g. /dev/ttyUSB0) for type serial")
		}
		dev.Baudrate = int(o.Int("baudrate", DefaultBaudrate, 1, math.MaxInt32))
		dev.Bytesize = int(o.Int("bytesize", 8, 5, 8))
		dev.Parity = o.OneOf("parity", "N", "N", "E", "O")
		dev.Stopbits = int(o.Int("stopbits", 1, 1, 2))
		if o.Bool("handleLocalEcho", false) {
			d.Warn(o.Key("handleLocalEcho"), "discarding a line's local echo is not supported yet in slave mode")
		}
		o.Ignore("host")
	default:
		if have := slaveMethods[transport]; !strings.Contains(" "+have+" ", " "+method+" ") {
			d.Failf(o.Key("method"), "slave mode with method %q over %s is not supported (have %s)", method, transport,
				strings.ReplaceAll(have, " ", ", "))
		}
		dev.Host = o.String("host", "127.0.0.1")
		dev.Port = int(o.IntAs("port", 502, 0, 65535, "a port number 0-65535 (0: any free port)"))
		cfg.Addr = hostPort(dev.Host, dev.Port)
	}
	cfg.TLS = slaveSecurity(o, transport, method)
	dev.UnitID = uint8(o.IntAs("unitId", 0, 0, 255, "a unit id 0-255"))
	if dev.UnitID == 0 && (dev.Method == "rtu" || dev.Method == "ascii") {
		// pymodbus answers unit 0 like any other; on RTU and ASCII lines it is the broadcast address, which a
		// slave carries out and never answers, so a master polling unit 0 gets silence here.
		d.Warn(o.Key("unitId"), "unit 0 is the broadcast address with "+dev.Method+" framing: writes to it are carried out but never answered; give the slave a unit id of 1-247")
	}
	dev.Name = o.String("deviceName", defaultSlaveDeviceName)
	dev.Type = o.String("deviceType", "default")
	dev.PollPeriod = positiveMillis(o, "pollPeriod", DefaultSlavePollPeriod)
	cfg.Send = o.Bool("sendDataToThingsBoard", false)
	dev.ReportStrategy = reportStrategy(o)
	dev.ByteOrder, dev.WordOrder = byteWordOrder(o, "LITTLE", "LITTLE")
	o.Ignore("id")
	cfg.Identity = map[byte]string{}
	o.Sub("identity", func(id *confjson.Object) {
		for _, k := range identityKeys {
			v := id.String(k.key, "")
			if len(v) > modbusproto.MaxDeviceIDObjectLen {
				d.Failf(id.Key(k.key), "at most %d bytes fit in a Read Device Identification answer, found %d",
					modbusproto.MaxDeviceIDObjectLen, len(v))
			}
			cfg.Identity[k.id] = v
		}
		if len(id.Keys()) > 0 {
			cfg.Identity[modbusproto.ObjMajorMinorRevision] = gatewayVersion()
		}
	})
	o.Sub("values", func(vals *confjson.Object) {
		for _, t := range slaveTables {
			vals.Sub(t.key, func(sec *confjson.Object) { decodeSlaveTable(sec, dev, t.fc) })
		}
	})
	dev.SetRepack(o.Bool("repack", false))
	cfg.Device = dev
	return cfg
}

// slaveMethods are the framings served over each network type: tls is MBAP over TLS, as pymodbus 3.8 and
// later frame it (and so the Python gateway).
var slaveMethods = map[string]string{"tcp": "socket rtu tls", "udp": "socket rtu", "tls": "socket tls"}

// slaveSecurity reads "security": required with type tls, or type tcp and method tls (certfile and keyfile);
// ignored with a warning otherwise.
func slaveSecurity(o *confjson.Object, transport, method string) *SlaveTLS {
	d := o.Decoder()
	tlsOn := transport == "tls" || (transport == "tcp" && method == "tls")
	if !tlsOn {
		if o.Has("security") {
			o.Ignore("security")
			d.Warn(o.Key("security"), "TLS is served with type tls, or type tcp and method tls; ignored with type "+transport)
		}
		return nil
	}
	what := "type tls"
	if transport == "tcp" {
		what = "method tls"
	}
	if !o.Require("security", "the server's certfile and keyfile for "+what) {
		return nil
	}
	var t *SlaveTLS
	o.Sub("security", func(s *confjson.Object) {
		t = &SlaveTLS{Password: s.String("password", "")}
		if s.Require("certfile", "the server certificate's PEM file") {
			t.CertFile = s.String("certfile", "")
		}
		if s.Require("keyfile", "the server key's PEM file") {
			t.KeyFile = s.String("keyfile", "")
		}
	})
	return t
}

// decodeSlaveTable reads one table of "values" (holding_registers, coils_initializer, ...) into dev's items.
func decodeSlaveTable(sec *confjson.Object, dev *Device, fc int) {
	for _, part := range []struct {
		key  string
		into *[]*Item
	}{{"attributes", &dev.Attributes}, {"timeseries", &dev.Timeseries}, {"attributeUpdates", &dev.AttributeUpdates}, {"rpc", &dev.RPC}} {
		for _, io := range sec.Objects(part.key) {
			it, _ := decodeItem(io, dev.ByteOrder, dev.WordOrder, false, false, true)
			if it == nil {
				continue
			}
			it.FunctionCode = fc
			it.Codec.Coils = fc == 1 || fc == 2
			if part.key == "attributeUpdates" {
				it.Write = true
			}
			*part.into = append(*part.into, it)
		}
	}
}

// gatewayVersion is the MajorMinorRevision the slave's identity answers (the Python gateway answers its
// pymodbus version there): the gateway module's version as built, "dev" for a build from a work tree.
func gatewayVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
