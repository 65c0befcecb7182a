package grpc_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
)

// debianPython is the interpreter with Debian's python3-grpcio and python3-grpc-tools.
const debianPython = "/usr/bin/python3"

// pythonStubs generates the Python client's modules from the Python gateway's own proto (testdata, corpus data)
// into a temporary folder and returns it. Without grpcio and grpc_tools the test fails under CI=true and is
// skipped otherwise.
func pythonStubs(t *testing.T) string {
	t.Helper()
	if err := exec.Command(debianPython, "-c", "import grpc, grpc_tools").Run(); err != nil {
		msg := "Debian's python3-grpcio and python3-grpc-tools are needed (scripts/install-test-deps.sh): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	out, err := exec.Command(debianPython, "-m", "grpc_tools.protoc", "-I", "testdata",
		"--python_out="+dir, "--grpc_python_out="+dir, "messages.proto").CombinedOutput()
	if err != nil {
		t.Fatalf("generating the Python client from testdata/messages.proto: %v\n%s", err, out)
	}
	return dir
}

// pyClient drives testdata/client.py: one JSON command in, one JSON result out.
type pyClient struct {
	t   *testing.T
	in  *json.Encoder
	out *bufio.Scanner
}

func (c *pyClient) do(cmd map[string]any) map[string]any {
	c.t.Helper()
	if err := c.in.Encode(cmd); err != nil {
		c.t.Fatalf("%v: %v", cmd, err)
	}
	if !c.out.Scan() {
		c.t.Fatalf("%v: the Python client stopped: %v", cmd, c.out.Err())
	}
	var res map[string]any
	if err := json.Unmarshal(c.out.Bytes(), &res); err != nil {
		c.t.Fatalf("%v: %q: %v", cmd, c.out.Text(), err)
	}
	return res
}

func (c *pyClient) ok(cmd map[string]any) map[string]any {
	c.t.Helper()
	res := c.do(cmd)
	if res["status"] != "SUCCESS" {
		c.t.Fatalf("%v answered %v", cmd, res)
	}
	return res
}

// TestE2EPythonClient: a client generated from the Python gateway's proto connects unchanged, through the
// gateway to the ThingsBoard emulator: it registers with the connector's generated ("auto") key and gets its
// configuration, connects a device, sends typed telemetry and attributes, receives a shared-attribute update,
// requests attributes, serves an RPC from ThingsBoard, lists its devices, disconnects the device and
// unregisters.
func TestE2EPythonClient(t *testing.T) {
	stubs := pythonStubs(t)
	e := gwtest.New(t, gwtest.Options{})
	e.WriteConfig(gwtest.Config{
		Connectors: []gwtest.Connector{{Type: "grpc", Name: "Python connector", Key: "auto", Conf: map[string]any{"devicePrefix": "py"}}},
		Sections:   map[string]any{"grpc": map[string]any{"enabled": true, "serverHost": "127.0.0.1", "serverPort": 0}},
	})
	g := e.Start(gwtest.StartOptions{})
	addr, err := g.GW.GRPCServer().Addr(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	g.WaitLog(e.Ctx, "gRPC connector waiting for its client")
	key := generatedKey(t, e, "Python connector")

	cmd := exec.CommandContext(e.Ctx, debianPython, filepath.Join("testdata", "client.py"), addr.String())
	cmd.Env = append(os.Environ(), "PYTHONPATH="+stubs)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("Python client: %v", err)
		}
	}()
	py := &pyClient{t: t, in: json.NewEncoder(stdin), out: bufio.NewScanner(stdout)}

	if res := py.do(map[string]any{"op": "register", "key": "not-the-key"}); res["status"] != "NOT_FOUND" {
		t.Fatalf("a wrong key answered %v", res)
	}
	res := py.ok(map[string]any{"op": "register", "key": key})
	if res["name"] != "Python connector" || res["configuration"] == "" {
		t.Fatalf("registration answered %v", res)
	}
	var conf map[string]any
	if err := json.Unmarshal([]byte(res["configuration"].(string)), &conf); err != nil || conf["devicePrefix"] != "py" {
		t.Fatalf("configuration %v: %v", res["configuration"], err)
	}

	py.ok(map[string]any{"op": "connect", "device": "py-dev", "type": "py-type"})
	if st := e.WaitDevice("py-dev"); st.Type != "py-type" {
		t.Errorf("device type %q at ThingsBoard, want py-type", st.Type)
	}
	const ts = 1_700_000_000_000
	py.ok(map[string]any{"op": "telemetry", "device": "py-dev", "ts": ts, "values": map[string]any{
		"temperature": 21.5, "count": 7, "ok": true, "label": "a", "obj": map[string]any{"x": 1}}})
	py.ok(map[string]any{"op": "attributes", "device": "py-dev", "values": map[string]any{"fw": "v1.2"}})
	e.WaitTelemetry("py-dev", "obj", 1)
	for k, want := range map[string]string{"temperature": "21.5", "count": "7", "ok": "true", "label": "a", "obj": `{"x":1}`} {
		v, ok := e.ValueAt("py-dev", k, ts)
		if !ok || fmt.Sprint(printable(v)) != want {
			t.Errorf("telemetry %s at ThingsBoard = %v (%T), want %s", k, v, v, want)
		}
	}
	if v := e.WaitAttribute("py-dev", tbemu.ScopeClient, "fw"); v != "v1.2" {
		t.Errorf("client attribute fw = %v (%T), want the string v1.2", v, v)
	}

	if err := e.Emu.SetSharedAttributes("py-dev", map[string]any{"limit": 5}); err != nil {
		t.Fatal(err)
	}
	if res := py.do(map[string]any{"op": "attribute_update"}); res["device"] != "py-dev" || !reflect.DeepEqual(res["values"], map[string]any{"limit": 5.0}) {
		t.Errorf("attribute update %v", res)
	}
	res = py.ok(map[string]any{"op": "attribute_request", "id": 12, "device": "py-dev", "client": false, "keys": []string{"limit"}})
	if res["requestId"] != 12.0 || !reflect.DeepEqual(res["values"], map[string]any{"limit": 5.0}) || res["error"] != "" {
		t.Errorf("attribute answer %v", res)
	}

	reply := make(chan any, 1)
	go func() { reply <- e.RPC("py-dev", "setValue", map[string]any{"v": 3}) }()
	if res := py.ok(map[string]any{"op": "serve_rpc"}); res["device"] != "py-dev" || res["method"] != "setValue" {
		t.Errorf("RPC at the client %v", res)
	}
	if got, want := <-reply, map[string]any{"success": true, "method": "setValue", "params": map[string]any{"v": 3.0}}; !reflect.DeepEqual(got, want) {
		t.Errorf("RPC reply at ThingsBoard %v, want %v", got, want)
	}

	if res := py.ok(map[string]any{"op": "devices", "key": key}); !reflect.DeepEqual(res["devices"], map[string]any{"py-dev": "py-type"}) {
		t.Errorf("connected devices %v", res)
	}
	py.ok(map[string]any{"op": "disconnect", "device": "py-dev"})
	e.WaitFor("py-dev disconnected", func() bool {
		st, ok := e.Emu.Device("py-dev")
		return ok && !st.Connected
	})
	py.ok(map[string]any{"op": "unregister", "key": key})
}

// printable shows JSON values as their compact text.
func printable(v any) any {
	if r, ok := v.(json.RawMessage); ok {
		var b bytes.Buffer
		if json.Compact(&b, r) == nil {
			return b.String()
		}
		return string(r)
	}
	return v
}

// generatedKey returns the key the gateway generated for connector (configured with "key": "auto") and keeps in
// its keys file; the test fails when there is none.
func generatedKey(t *testing.T, e *gwtest.Env, connector string) string {
	t.Helper()
	var keys map[string]string
	b, err := os.ReadFile(filepath.Join(e.Dir, runtime.GRPCKeysFile))
	if err == nil {
		err = json.Unmarshal(b, &keys)
	}
	if err != nil || keys[connector] == "" {
		t.Fatalf("generated key of %q in %s: %v, %v", connector, runtime.GRPCKeysFile, keys, err)
	}
	return keys[connector]
}
