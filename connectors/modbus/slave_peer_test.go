package modbus_test

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/internal/connectortest"
)

// pyMaster is a pymodbus client process (testdata/slave_master.py) a test sends commands to.
type pyMaster struct {
	t     *testing.T
	ctx   context.Context
	in    *json.Encoder
	lines chan string
}

// startPyMaster runs slave_master.py with args and waits for it to connect.
func startPyMaster(t *testing.T, ctx context.Context, args ...string) *pyMaster {
	t.Helper()
	cmd := exec.Command(debianPython, append([]string{filepath.Join("testdata", "slave_master.py")}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &pyMaster{t: t, ctx: ctx, in: json.NewEncoder(stdin), lines: make(chan string)}
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case m.lines <- sc.Text():
			case <-ctx.Done():
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		stdin.Close() // the script ends at the end of its input
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	if l := m.line(); l != "READY" {
		t.Fatalf("pymodbus master %v: %s", args, l)
	}
	return m
}

func (m *pyMaster) line() string {
	m.t.Helper()
	select {
	case l := <-m.lines:
		return l
	case <-m.ctx.Done():
		m.t.Fatalf("pymodbus master: no answer: %v", m.ctx.Err())
	}
	return ""
}

// do sends one command and returns its answer.
func (m *pyMaster) do(cmd map[string]any) map[string]any {
	m.t.Helper()
	if err := m.in.Encode(cmd); err != nil {
		m.t.Fatalf("pymodbus master: %v", err)
	}
	var out map[string]any
	if l := m.line(); json.Unmarshal([]byte(l), &out) != nil {
		m.t.Fatalf("pymodbus master answered %q", l)
	}
	return out
}

// waitValues reads until the answer's values equal want; the context bounds the wait.
func (m *pyMaster) waitValues(op string, addr, count int, want []any) {
	m.t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		got := m.do(map[string]any{"op": op, "addr": addr, "count": count, "unit": 1})
		if reflect.DeepEqual(got["values"], want) {
			return
		}
		select {
		case <-tick.C:
		case <-m.ctx.Done():
			m.t.Fatalf("pymodbus read %s %d-%d: %v, want %v", op, addr, addr+count-1, got, want)
		}
	}
}

var slaveIdentity = map[string]any{"vendorName": "ThingsBoard", "productCode": "TBGW", "vendorUrl": "https://thingsboard.io",
	"productName": "tbgateway", "ModelName": "slave mode"}

// TestSlaveModePymodbus runs the slave section over each transport with python3-pymodbus as the master: Modbus
// TCP, UDP, TLS (a certificate made by the test, its key encrypted with security.password; the master checks
// it against the test's CA) and RTU on a pseudo-terminal pair. pymodbus reads the served registers and coil,
// then the registers a shared attribute and an RPC at ThingsBoard wrote, and the identity block through Read
// Device Identification (43/14): basic, regular and individual access, objects in ascending id order.
func TestSlaveModePymodbus(t *testing.T) {
	needPymodbus(t)
	connectortest.NeedPeer(t, "socat")
	for _, kind := range []string{"tcp", "udp", "tls", "rtu", "rtu-tcp", "rtu-udp", "ascii", "tcp-method-tls"} {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			var s map[string]any
			_ = json.Unmarshal(slaveConfig(), &s)
			slave := s["slave"].(map[string]any)
			slave["identity"] = slaveIdentity
			var cafile, cliPty string
			switch kind {
			case "udp":
				slave["type"] = "udp"
			case "tls":
				cafile = writeTLSFiles(t, slave)
			case "tcp-method-tls":
				cafile = writeTLSFiles(t, slave)
				slave["type"], slave["method"] = "tcp", "tls"
			case "rtu-tcp":
				slave["method"] = "rtu"
			case "rtu-udp":
				slave["type"], slave["method"] = "udp", "rtu"
			case "rtu", "ascii":
				var srvPty string
				srvPty, cliPty = startPtyPair(t, ctx)
				delete(slave, "host")
				slave["type"], slave["method"], slave["port"], slave["baudrate"] = "serial", kind, srvPty, 19200
			}
			conf, _ := json.Marshal(s)
			name := "probe " + t.Name()
			g := startGatewayAs(t, conf, probeType, name)
			g.WaitFor("the served values at ThingsBoard", func() bool {
				return same(12334.0, g.Emu.Latest(slaveDevice)["smm"].Value)
			})
			v, _ := probes.Load(name)
			addr := v.(*modbus.Connector).SlaveAddr()
			args := []string{kind, addr}
			switch kind {
			case "tls", "tcp-method-tls":
				args = []string{"tls", addr, cafile}
			case "rtu", "ascii":
				args = []string{kind, cliPty}
			}
			m := startPyMaster(t, ctx, args...)
			m.waitValues("hr", 1, 2, []any{float64('O'<<8 | 'N'), 12334.0})
			m.waitValues("co", 5, 1, []any{true})

			if err := g.Emu.SetSharedAttributes(slaveDevice, map[string]any{"shared_attribute_write": 98765}); err != nil {
				t.Fatal(err)
			}
			m.waitValues("hr", 29, 2, []any{float64(98765 >> 16), float64(98765 & 0xffff)})
			if got := g.rpc(slaveDevice, "setValue", 4321); !same(4321.0, got) {
				t.Errorf("setValue replied %v, want 4321", got)
			}
			m.waitValues("hr", 31, 1, []any{4321.0})

			checkIdentity(t, m)
		})
	}
}

// checkIdentity reads the slave's identity with pymodbus: basic and regular streams from object 0 and one
// object by itself.
func checkIdentity(t *testing.T, m *pyMaster) {
	t.Helper()
	basic := m.do(map[string]any{"op": "id", "code": 1, "obj": 0, "unit": 1})
	objs, _ := basic["objects"].([]any)
	if len(objs) != 3 || !reflect.DeepEqual(objs[0], []any{0.0, "ThingsBoard"}) || !reflect.DeepEqual(objs[1], []any{1.0, "TBGW"}) ||
		fmt.Sprint(objs[2].([]any)[0]) != "2" || objs[2].([]any)[1] == "" || basic["more"] != false {
		t.Errorf("basic device identification: %v; want vendor, product code, revision", basic)
	}
	regular := m.do(map[string]any{"op": "id", "code": 2, "obj": 0, "unit": 1})
	objs, _ = regular["objects"].([]any)
	want := []any{[]any{3.0, "https://thingsboard.io"}, []any{4.0, "tbgateway"}, []any{5.0, "slave mode"}}
	if len(objs) != 6 || !reflect.DeepEqual(objs[3:], want) || !reflect.DeepEqual(objs[:2], []any{[]any{0.0, "ThingsBoard"}, []any{1.0, "TBGW"}}) {
		t.Errorf("regular device identification: %v; want objects 0-5 in order", regular)
	}
	one := m.do(map[string]any{"op": "id", "code": 4, "obj": 5, "unit": 1})
	if !reflect.DeepEqual(one["objects"], []any{[]any{5.0, "slave mode"}}) {
		t.Errorf("object 5 by itself: %v", one)
	}
}

// writeTLSFiles makes a CA and a server certificate for 127.0.0.1 signed by it, writes the certificate and its
// key (encrypted with a password) into the slave section's security, and returns the CA's file.
func writeTLSFiles(t *testing.T, slave map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	ca := newTestCA(t, dir, "slave-ca")
	certFile, keyFile, key := ca.issueKey(t, dir, "slave", x509.ExtKeyUsageServerAuth)
	writeEncryptedKey(t, keyFile, key, "s3cret")
	slave["type"] = "tls"
	slave["security"] = map[string]any{"certfile": certFile, "keyfile": keyFile, "password": "s3cret"}
	return ca.file
}
