package mqtt_test

// The integration harness: a real mosquitto started on a free loopback port with persistence in a temporary
// folder, and the kit's end-to-end helper (internal/gwtest: tbemu in process and a whole gateway from a config
// folder) running a gateway whose MQTT connector subscribes to that mosquitto.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/connectors/mqtt"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/tbemu"
)

func TestMain(m *testing.M) {
	// regexp2 runs one clock goroutine for match timeouts for the life of the process.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock"))
}

const (
	mosquittoPath = "/usr/sbin/mosquitto"
	// testTimeout bounds every integration test; it is a failure bound, never a pacing.
	testTimeout = 120 * time.Second
	// probeType is the connector type registered by the tests: the real MQTT connector, kept where the test can
	// read its counters.
	probeType = "mqtttest"
)

var instances = struct {
	sync.Mutex
	m map[string]*mqtt.Connector
}{m: map[string]*mqtt.Connector{}}

func init() {
	tbgateway.RegisterConnector(tbgateway.ConnectorType{Type: probeType, New: func(cc tbgateway.ConnectorConfig) (tbgateway.Connector, error) {
		cfg, _, err := mqtt.DecodeFile(cc.Where(), cc.Raw)
		if err != nil {
			return nil, err
		}
		cfg.Name = cc.Name
		c, err := mqtt.New(cfg, cc.Logger)
		if err != nil {
			return nil, err
		}
		instances.Lock()
		instances.m[cc.Name] = c
		instances.Unlock()
		return c, nil
	}})
}

// broker is a mosquitto process run by a test.
type broker struct {
	t       *testing.T
	port    int
	tlsPort int // 0 without a TLS listener
	dir     string
	conf    string
	cmd     *exec.Cmd
	done    chan struct{}
	// onLog, when set before start, receives every line mosquitto logs (the config then logs at debug level).
	onLog func(line string)
}

// startMosquitto starts mosquitto on a free loopback port with persistence in a temporary folder and stops it
// when the test ends. Without mosquitto the test fails under CI=true and is skipped otherwise.
func startMosquitto(t *testing.T) *broker { return startMosquittoTLS(t, nil) }

// brokerUsers, when set by a test before newEnv, are written to a mosquitto password file (anonymous clients
// stay allowed; a client giving a username must give its password).
var brokerUsers map[string]string

// tlsFiles are the PEM files of a TLS listener that requires client certificates.
type tlsFiles struct{ ca, cert, key string }

// startMosquittoTLS is startMosquitto with, when tf is not nil, a second listener speaking TLS (tlsPort).
func startMosquittoTLS(t *testing.T, tf *tlsFiles) *broker { return startBroker(t, tf, nil) }

// startBroker is startMosquittoTLS; with onLog set, mosquitto logs at debug level and onLog receives every line
// (tests read the broker's view of the protocol: which PUBACKs it received from whom).
func startBroker(t *testing.T, tf *tlsFiles, onLog func(line string)) *broker {
	t.Helper()
	if _, err := os.Stat(mosquittoPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mosquitto is missing at %s: %v", mosquittoPath, err)
		}
		t.Skipf("mosquitto is missing at %s; install with make test-deps", mosquittoPath)
	}
	b := &broker{t: t, dir: t.TempDir(), onLog: onLog}
	b.port = freePort(t)
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	conf := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
autosave_interval 0
set_tcp_nodelay true
max_queued_messages 1000000
max_inflight_messages 0
user root
log_dest stderr
log_type error
`, b.port, b.dir)
	if len(brokerUsers) > 0 {
		pw := filepath.Join(b.dir, "passwords")
		for u, p := range brokerUsers {
			args := []string{"-b", pw, u, p}
			if _, err := os.Stat(pw); err != nil {
				args = append([]string{"-c"}, args...)
			}
			if out, err := exec.Command("/usr/bin/mosquitto_passwd", args...).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_passwd: %v: %s", err, out)
			}
		}
		conf += "password_file " + pw + "\n"
	}
	if onLog != nil {
		conf += "log_type debug\n"
	}
	if tf != nil {
		b.tlsPort = freePort(t)
		conf += fmt.Sprintf("listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n",
			b.tlsPort, tf.ca, tf.cert, tf.key)
	}
	if err := os.WriteFile(b.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (b *broker) start() {
	b.t.Helper()
	if err := b.tryStart(); err != nil {
		b.t.Fatal(err)
	}
}

// tryStart starts mosquitto and waits until it accepts connections; safe to call from any goroutine.
func (b *broker) tryStart() error {
	b.cmd = exec.Command(mosquittoPath, "-c", b.conf)
	if os.Getenv("E2E_LOG") != "" {
		b.cmd.Stderr = os.Stderr
	}
	var logR, logW *os.File
	if b.onLog != nil {
		var err error
		if logR, logW, err = os.Pipe(); err != nil {
			return err
		}
		b.cmd.Stderr = logW
	}
	err := b.cmd.Start()
	if logW != nil {
		logW.Close()
		go func() {
			defer logR.Close()
			sc := bufio.NewScanner(logR)
			for sc.Scan() {
				b.onLog(sc.Text())
			}
		}()
	}
	if err != nil {
		return fmt.Errorf("start mosquitto: %w", err)
	}
	b.done = make(chan struct{})
	cmd, done := b.cmd, b.done
	go func() { _ = cmd.Wait(); close(done) }()
	// Wait until it accepts connections; the deadline is a failure bound.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.addr(), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("mosquitto exited at start (port %d)", b.port)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mosquitto does not accept connections on %s: %w", b.addr(), err)
		}
	}
}

// stop ends mosquitto gracefully (it writes its persistence file) and waits for it.
func (b *broker) stop() {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(20 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
	b.cmd = nil
}

// restart stops mosquitto gracefully and starts it again on the same port and persistence folder.
func (b *broker) restart() error {
	b.stop()
	return b.tryStart()
}

func (b *broker) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// device is a test's MQTT client standing for devices: it publishes and collects what the gateway publishes.
type device struct {
	t   *testing.T
	c   paho3.Client
	got chan paho3.Message
}

func newDevice(t *testing.T, b *broker, id string, subscribe ...string) *device {
	t.Helper()
	d := &device{t: t, got: make(chan paho3.Message, 1024)}
	opts := paho3.NewClientOptions().AddBroker("tcp://" + b.addr()).SetClientID(id).SetAutoReconnect(false).
		SetConnectRetry(false).SetOrderMatters(false).SetConnectTimeout(10 * time.Second)
	d.c = paho3.NewClient(opts)
	if tok := d.c.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("device client connect: %v", tok.Error())
	}
	t.Cleanup(func() { d.c.Disconnect(100) })
	for _, f := range subscribe {
		if tok := d.c.Subscribe(f, 1, func(_ paho3.Client, m paho3.Message) { d.got <- m }); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("device subscribe %q: %v", f, tok.Error())
		}
	}
	return d
}

func (d *device) publish(topic string, payload any) {
	d.t.Helper()
	var b []byte
	switch p := payload.(type) {
	case string:
		b = []byte(p)
	default:
		b, _ = json.Marshal(p)
	}
	if tok := d.c.Publish(topic, 1, false, b); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		d.t.Fatalf("publish to %q: %v", topic, tok.Error())
	}
}

// next waits for the next message the device received.
func (d *device) next(ctx context.Context) paho3.Message {
	d.t.Helper()
	select {
	case m := <-d.got:
		return m
	case <-ctx.Done():
		d.t.Fatalf("the device received nothing: %v", ctx.Err())
	}
	return nil
}

// logView reads the log of the env's current gateway.
type logView struct{ e *env }

func (l logView) reset() {
	if g := l.e.gw; g != nil {
		g.Log.Reset()
	}
}

func (l logView) contains(parts ...string) bool {
	g := l.e.gw
	return g != nil && g.Log.Contains(parts...)
}

// env is one test's emulator and broker (through gwtest) and the gateway running on them.
type env struct {
	*gwtest.Env
	t   *testing.T
	ctx context.Context
	emu *tbemu.Server
	b   *broker
	log logView
	gw  *gwtest.Gateway

	stopGateway func()
}

// newEnv starts mosquitto and tbemu, then a gateway with one MQTT connector (type typ, name "MQTT") whose
// configuration is conf with the broker's host and port filled in.
func newEnv(t *testing.T, typ string, conf map[string]any) *env {
	t.Helper()
	return newEnvTLS(t, typ, conf, nil)
}

// newEnvTLS is newEnv with a mosquitto TLS listener (see startMosquittoTLS) the gateway connects to.
func newEnvTLS(t *testing.T, typ string, conf map[string]any, tf *tlsFiles) *env {
	t.Helper()
	b := startMosquittoTLS(t, tf)
	ge := gwtest.New(t, gwtest.Options{Timeout: testTimeout})
	e := &env{Env: ge, t: t, ctx: ge.Ctx, emu: ge.Emu, b: b}
	e.log = logView{e}
	brokerSection, _ := conf["broker"].(map[string]any)
	if brokerSection == nil {
		brokerSection = map[string]any{}
		conf["broker"] = brokerSection
	}
	brokerSection["host"] = "127.0.0.1"
	brokerSection["port"] = b.port
	if tf != nil {
		brokerSection["port"] = b.tlsPort
	}
	if _, ok := brokerSection["reconnectMaxDelaySeconds"]; !ok {
		brokerSection["reconnectMaxDelaySeconds"] = 1
	}
	e.stopGateway = e.startGateway(typ, conf)
	return e
}

// startGateway runs a gateway with the connector file conf until the test ends; the returned function stops it
// earlier (idempotent).
func (e *env) startGateway(typ string, conf map[string]any) (stop func()) {
	return e.startGatewayWait(typ, conf, true)
}

// startGatewayWait is startGateway; with waitBroker false it returns once the gateway reached tbemu, without
// waiting for the connector's broker connection.
func (e *env) startGatewayWait(typ string, conf map[string]any, waitBroker bool) (stop func()) {
	e.t.Helper()
	instances.Lock()
	delete(instances.m, "MQTT")
	instances.Unlock()
	e.WriteConfig(gatewayConfig(typ, conf, 20, 100000))
	e.gw = e.Start(gwtest.StartOptions{})
	if waitBroker {
		// The connector logs this once its subscriptions are in place.
		e.gw.WaitLog(e.ctx, "connected to the broker")
	}
	return e.gw.Stop
}

// gatewayConfig is a gateway with durable file storage (./data/, files × perFile records), so "acknowledged to
// the broker" means "on disk" as in production, and one connector (type typ, name "MQTT") whose file holds conf.
func gatewayConfig(typ string, conf map[string]any, files, perFile int) gwtest.Config {
	return gwtest.Config{
		Connectors: []gwtest.Connector{{Type: typ, Name: "MQTT", File: "mqtt.json", Conf: conf}},
		Storage: map[string]any{"type": "file", "data_folder_path": "./data/", "max_file_count": files,
			"max_records_per_file": perFile},
	}
}

// restartGateway stops the running gateway, lets between run while it is down, and starts a new one.
func (e *env) restartGateway(typ string, conf map[string]any, between func()) {
	e.stopGateway()
	between()
	e.stopGateway = e.startGateway(typ, conf)
}

// stats returns the counters of the connector named "MQTT" of type probeType.
func (e *env) stats() mqtt.Stats {
	e.t.Helper()
	instances.Lock()
	c := instances.m["MQTT"]
	instances.Unlock()
	if c == nil {
		e.t.Fatal("no connector of type " + probeType + " is running")
	}
	return c.Stats()
}

// waitFor waits until cond holds at the emulator.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	e.WaitFor(what, cond)
}

// waitKnown waits until the gateway's device table holds the device: its first data can reach the emulator
// just before the table's commit, and an RPC in between is refused as for an unknown device.
func (e *env) waitKnown(device string) {
	e.t.Helper()
	e.eventually("the gateway knows "+device, func() bool { _, ok := e.gw.GW.Devices().Lookup(device); return ok })
}

// eventually polls cond for state outside the emulator; the deadline is the test's, a failure bound only.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	e.Eventually(what, cond)
}
