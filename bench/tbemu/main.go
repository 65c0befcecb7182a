// Command tbemu-bench measures how many gateway telemetry messages (10
// devices x 10 datapoints each) tbemu ingests per second from one MQTT client
// at QoS 1 with a sliding window of in-flight publishes. The emulator runs in
// this process; the client is this program re-executed with -client, so the
// two do not share a Go runtime.
//
//	go run ./bench/tbemu -n 200000 -window 100
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/tbgateway/tbgateway/tbemu"
)

const (
	devices   = 10
	keys      = 10
	token     = "bench-gateway-token"
	telemetry = "v1/gateway/telemetry"
)

type result struct {
	Messages int     `json:"messages"`
	Errors   int     `json:"errors"`
	Seconds  float64 `json:"seconds"`
}

func main() {
	client := flag.Bool("client", false, "run as the MQTT client (internal)")
	addr := flag.String("addr", "", "emulator address (client mode)")
	n := flag.Int("n", 200000, "messages to publish")
	window := flag.Int("window", 100, "publishes in flight")
	version := flag.Int("v", 5, "MQTT protocol level: 4 (3.1.1) or 5")
	maxValues := flag.Int("max-values", 10000, "tbemu MaxValuesPerKey")
	cpuProfile := flag.String("cpuprofile", "", "write the emulator process's CPU profile to this file")
	flag.Parse()
	if *cpuProfile != "" && !*client {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if *client {
		if err := runClient(*addr, *n, *window, byte(*version)); err != nil {
			fmt.Fprintln(os.Stderr, "client:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*n, *window, *version, *maxValues); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(n, window, version, maxValues int) error {
	ctx := context.Background()
	s, err := tbemu.Start(ctx, tbemu.Options{MaxValuesPerKey: maxValues, MaxRawLog: 100000})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.AddDevice(tbemu.DeviceSpec{Name: "bench-gateway", Gateway: true, Token: token}); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, os.Args[0], "-client", "-addr", s.MQTTAddr(),
		"-n", fmt.Sprint(n), "-window", fmt.Sprint(window), "-v", fmt.Sprint(version))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("client process: %w", err)
	}
	var r result
	if err := json.Unmarshal(out, &r); err != nil {
		return fmt.Errorf("client output %q: %w", out, err)
	}
	stored := 0
	for d := range devices {
		stored += len(s.Telemetry(fmt.Sprintf("Device %d", d), "k0"))
	}
	fmt.Printf("tbemu ingest: %d gateway telemetry messages (%d devices x %d datapoints), QoS 1, window %d, MQTT level %d\n",
		r.Messages, devices, keys, window, version)
	fmt.Printf("  %.2f s, %.0f msg/s, %.0f datapoints/s; error PUBACKs %d; server counted %d messages; stored %d values of key k0 (cap %d per key); GOMAXPROCS %d\n",
		r.Seconds, float64(r.Messages)/r.Seconds, float64(r.Messages*devices*keys)/r.Seconds, r.Errors,
		s.MessageCount(), stored, maxValues, runtime.GOMAXPROCS(0))
	if r.Errors > 0 || s.MessageCount() != uint64(r.Messages) {
		return fmt.Errorf("%d error PUBACKs, %d of %d messages counted", r.Errors, s.MessageCount(), r.Messages)
	}
	return nil
}

// template is one publish packet whose ts digits and packet id are patched
// in place per message, so the client spends its time on I/O.
type template struct {
	pkt     []byte
	idAt    int
	tsAt    []int
	tsWidth int
}

func newTemplate(version byte) (*template, error) {
	var b strings.Builder
	b.WriteByte('{')
	for d := range devices {
		if d > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"Device %d":[{"ts":1700000000000,"values":{`, d)
		for k := range keys {
			if k > 0 {
				b.WriteByte(',')
			}
			switch k % 3 {
			case 0:
				fmt.Fprintf(&b, `"k%d":%d`, k, 1000+k)
			case 1:
				fmt.Fprintf(&b, `"k%d":%d.25`, k, 20+k)
			default:
				fmt.Fprintf(&b, `"k%d":"state-%d"`, k, k)
			}
		}
		b.WriteString(`}}]`)
	}
	b.WriteByte('}')
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: 1},
		ProtocolVersion: version, TopicName: telemetry, Payload: []byte(b.String()), PacketID: 0xABCD,
	}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		return nil, err
	}
	t := &template{pkt: buf.Bytes(), tsWidth: 13}
	t.idAt = bytes.Index(t.pkt, []byte(telemetry)) + len(telemetry)
	for off := 0; ; {
		i := bytes.Index(t.pkt[off:], []byte(`"ts":1700000000000`))
		if i < 0 {
			break
		}
		t.tsAt = append(t.tsAt, off+i+5)
		off += i + 5
	}
	return t, nil
}

func (t *template) patch(id uint16, ts int64) {
	binary.BigEndian.PutUint16(t.pkt[t.idAt:], id)
	var digits [13]byte
	for i := 12; i >= 0; i-- {
		digits[i] = byte('0' + ts%10)
		ts /= 10
	}
	for _, at := range t.tsAt {
		copy(t.pkt[at:at+t.tsWidth], digits[:])
	}
}

func runClient(addr string, n, window int, version byte) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	name := "MQTT"
	connect := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
		Connect: packets.ConnectParams{ProtocolName: []byte(name), Clean: true, Keepalive: 60,
			Username: []byte(token), UsernameFlag: true},
	}
	var cb bytes.Buffer
	if err := connect.ConnectEncode(&cb); err != nil {
		return err
	}
	if _, err := conn.Write(cb.Bytes()); err != nil {
		return err
	}
	r := bufio.NewReaderSize(conn, 64<<10)
	typ, body, err := readPacket(r)
	if err != nil || typ != packets.Connack || len(body) < 2 || body[1] != 0 {
		return fmt.Errorf("connack: type %d body %v: %v", typ, body, err)
	}
	tmpl, err := newTemplate(version)
	if err != nil {
		return err
	}

	tokens := make(chan struct{}, window)
	for range window {
		tokens <- struct{}{}
	}
	errs := make(chan int, 1)
	go func() { // PUBACK reader
		bad := 0
		for acked := 0; acked < n; {
			typ, body, err := readPacket(r)
			if err != nil {
				errs <- -1
				return
			}
			if typ != packets.Puback {
				continue
			}
			if len(body) > 2 && body[2] != 0 {
				bad++
			}
			acked++
			tokens <- struct{}{}
		}
		errs <- bad
	}()

	w := bufio.NewWriterSize(conn, 64<<10)
	start := time.Now()
	base := start.UnixMilli() - int64(n)
	for i := range n {
		select {
		case <-tokens:
		default:
			if err := w.Flush(); err != nil {
				return err
			}
			<-tokens
		}
		tmpl.patch(uint16(i%65535+1), base+int64(i))
		if _, err := w.Write(tmpl.pkt); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	bad := <-errs
	elapsed := time.Since(start)
	if bad < 0 {
		return fmt.Errorf("connection lost before all PUBACKs")
	}
	return json.NewEncoder(os.Stdout).Encode(result{Messages: n, Errors: bad, Seconds: elapsed.Seconds()})
}

func readPacket(r *bufio.Reader) (byte, []byte, error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		return 0, nil, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return h >> 4, body, nil
}
