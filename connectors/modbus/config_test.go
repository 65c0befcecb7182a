package modbus

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

// TestDecodeCorpusConfigs loads every sample and corpus config the Python gateway loads.
func TestDecodeCorpusConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/blackbox/configs/*/*.json")
	more, _ := filepath.Glob("testdata/blackbox/configs/*.json")
	files = append(append(files, more...), "testdata/modbus.json", "testdata/modbus_serial.json")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Check(tbgateway.ConnectorConfig{Name: "Modbus", File: f, Raw: raw}); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// TestDecodeErrorsNameFileAndPath: a wrong or unsupported value is one error naming the file and the key path;
// an unknown key is a warning naming both.
func TestDecodeErrorsNameFileAndPath(t *testing.T) {
	const dev = `"host":"h","pollPeriod":1`
	cases := []struct{ raw, want string }{
		{`{"master":{"slaves":[{"host":"h","port":1,"unitId":1,"deviceName":"D"}]}}`,
			"master.slaves[0].pollPeriod: expected the milliseconds between polls, found nothing"},
		{`{"master":{"slaves":[{` + dev + `,"byteOrder":"MIDDLE"}]}}`,
			`master.slaves[0].byteOrder: expected one of BIG, LITTLE, found "MIDDLE"`},
		{`{"master":{"slaves":[{` + dev + `,"port":70000}]}}`,
			"master.slaves[0].port: expected a port number 1-65535, found 70000"},
		{`{"master":{"slaves":[{` + dev + `,"timeseries":[{"tag":"t","type":"16int","functionCode":7,"address":0}]}]}}`,
			"master.slaves[0].timeseries[0].functionCode: want 1 (coils), 2 (discrete inputs), 3 (holding) or 4 (input registers), found 7"},
		{`{"master":{"slaves":[{` + dev + `,"timeseries":[{"tag":"t","type":"16int","functionCode":3,"address":"x"}]}]}}`,
			`master.slaves[0].timeseries[0].address: expected a register address 0-65535, found "x"`},
		{`{"master":{"slaves":[{` + dev + `},{` + dev + `}]}}`,
			`master.slaves[1].deviceName: "ModbusDevice 1" is also the name of master.slaves[0]`},
		{`{"Modbus":{"name":"m","configurationJson":{"master":{"slaves":[{"host":"h"}]}}}}`,
			"Modbus.configurationJson.master.slaves[0].pollPeriod: expected the milliseconds between polls, found nothing"},
		{`{"name":"m"}`, `master: expected a "master" or a "slave" section, found nothing`},
		// unsupported: stay errors naming the key
		{`{"slave":{"type":"serial","method":"socket","port":"/dev/ttyS0"}}`, `slave.method: slave mode with method "socket" over serial is not supported (have rtu, ascii)`},
		{`{"slave":{"type":"udp","method":"tls","port":0}}`, `slave.method: slave mode with method "tls" over udp is not supported (have socket, rtu)`},
		{`{"slave":{"type":"tls","method":"rtu","port":0}}`, `slave.method: slave mode with method "rtu" over tls is not supported (have socket, tls)`},
		{`{"slave":{"type":"tcp","method":"tls","port":0}}`, `slave.security: expected the server's certfile and keyfile for method tls, found nothing`},
		{`{"slave":{"type":"tls","port":0}}`, `slave.security: expected the server's certfile and keyfile for type tls, found nothing`},
		{`{"master":{"slaves":[{"type":"serial","method":"socket","port":"/dev/ttyS0","pollPeriod":1}]}}`,
			`master.slaves[0].method: method "socket" over serial is not supported (have rtu, ascii)`},
		{`{"master":{"slaves":[{` + dev + `,"method":"ascii"}]}}`,
			`master.slaves[0].method: method "ascii" over tcp is not supported yet (have socket, rtu)`},
		// TLS: RTU framing over TLS, a key without its certificate, wrong shapes
		{`{"master":{"slaves":[{` + dev + `,"type":"tls","method":"rtu"}]}}`,
			`master.slaves[0].method: method "rtu" over TLS is not supported (have socket, tls: both frame with the MBAP header)`},
		{`{"master":{"slaves":[{` + dev + `,"tls":{"keyfile":"k.pem"}}]}}`,
			"master.slaves[0].tls.certfile: expected the client certificate file that goes with keyfile, found nothing"},
		{`{"master":{"slaves":[{` + dev + `,"tls":{"cafile":5}}]}}`, "master.slaves[0].tls.cafile: expected a string, found 5"},
		{`{"master":{"slaves":[{` + dev + `,"tls":"yes"}]}}`, `master.slaves[0].tls: expected an object, found "yes"`},
		// address ranges: reversed, malformed, oversized, past 65535, where ranges do not apply
		{`{"master":{"slaves":[{` + dev + `,"timeseries":[{"tag":"t","type":"16int","functionCode":3,"address":"5-3"}]}]}}`,
			`master.slaves[0].timeseries[0].address: address range "5-3" is reversed: its end is below its start`},
		{`{"master":{"slaves":[{` + dev + `,"attributes":[{"tag":"t","type":"16int","functionCode":3,"address":"1-x"}]}]}}`,
			`master.slaves[0].attributes[0].address: expected a register address 0-65535 or a range "start-end", found "1-x"`},
		{`{"master":{"slaves":[{` + dev + `,"timeseries":[{"tag":"t","type":"16int","functionCode":3,"address":"0-5000"}]}]}}`,
			`master.slaves[0].timeseries[0].address: address range 0-5000 gives 5001 items, more than 1024`},
		{`{"master":{"slaves":[{` + dev + `,"timeseries":[{"tag":"t","type":"16int","functionCode":3,"address":"65530-70000"}]}]}}`,
			`master.slaves[0].timeseries[0].address: address range "65530-70000" runs outside 0-65535`},
		{`{"master":{"slaves":[{` + dev + `,"timeseries":[{"tag":"t","type":"32int","functionCode":3,"objectsCount":2,"address":"65531-65535"}]}]}}`,
			`master.slaves[0].timeseries[0].address: address range 65531-65535: the item at 65535 (2 objects) runs past address 65535`},
		{`{"master":{"slaves":[{` + dev + `,"attributeUpdates":[{"tag":"t","type":"16int","functionCode":6,"address":"0-3"}]}]}}`,
			`master.slaves[0].attributeUpdates[0].address: address range "0-3": ranges apply to attributes and timeseries only`},
	}
	for _, tc := range cases {
		_, err := Check(tbgateway.ConnectorConfig{File: "m.json", Raw: []byte(tc.raw)})
		if err == nil || err.Error() != "m.json: "+tc.want {
			t.Errorf("%s:\n got %v\nwant m.json: %s", tc.raw, err, tc.want)
		}
	}
	w, err := Check(tbgateway.ConnectorConfig{File: "m.json", Raw: []byte(`{"master":{"slaves":[{` + dev +
		`,"colour":1,"timeseries":[{"tag":"t","type":"16int","functionCode":3,"address":0,"scale":2}]}]},"extra":{}}`)})
	want := []string{"m.json: master.slaves[0].timeseries[0].scale: unknown key, ignored",
		"m.json: master.slaves[0].colour: unknown key, ignored", "m.json: extra: unknown key, ignored"}
	if err != nil || !slices.Equal(w, want) {
		t.Errorf("warnings %q, err %v; want %q", w, err, want)
	}
}

// TestDecodeDefaults: a device entry with only the required keys takes the Python gateway's defaults.
func TestDecodeDefaults(t *testing.T) {
	cfg, w, err := Decode([]byte(`{"master":{"slaves":[{"host":"h","pollPeriod":250,"retries":true,
		"timeseries":[{"tag":"t","type":"32int","functionCode":3,"address":"7","objectsCount":2}]}]}}`))
	if err != nil || len(w) != 0 {
		t.Fatalf("err %v, warnings %q", err, w)
	}
	d := cfg.Devices[0]
	got := fmt.Sprintf("%s %s %s:%d unit %d %q %q timeout %v retries %d poll %v attempts %v x%d wait %v delay %v gap %d %s/%s",
		d.Transport, d.Method, d.Host, d.Port, d.UnitID, d.Name, d.Type, d.Timeout, d.Retries, d.PollPeriod,
		d.ConnectAttemptTime, d.ConnectAttempts, d.WaitAfterFailed, d.DelayBetween, d.MaxReadGap, d.ByteOrder, d.WordOrder)
	want := `tcp socket h:502 unit 1 "ModbusDevice 1" "default" timeout 30s retries 3 poll 250ms attempts 500ms x2 wait 30s delay 0s gap 16 LITTLE/LITTLE`
	if got != want {
		t.Errorf("device\n got %s\nwant %s", got, want)
	}
	it := d.Timeseries[0]
	if c := it.Codec; it.Address != 7 || c.Kind != KindInt32 || c.Count != 2 || !c.LittleBytes || !c.LittleWords || c.Round != DefaultRound || c.Bit != -1 {
		t.Errorf("item %+v codec %+v", it, c)
	}
}

func TestPlanReadsMerges(t *testing.T) {
	d := &Device{}
	for i, addr := range []uint16{0, 2, 4, 30, 200} {
		d.Timeseries = append(d.Timeseries, &Item{Tag: string(rune('a' + i)), FunctionCode: 3, Address: addr,
			Codec: Codec{Kind: KindUint16, Count: 1, Bit: -1}})
	}
	d.Timeseries = append(d.Timeseries, &Item{Tag: "c0", FunctionCode: 1, Address: 0, Codec: Codec{Kind: KindBits, Count: 1, Coils: true, Bit: -1}},
		&Item{Tag: "c1", FunctionCode: 1, Address: 1990, Codec: Codec{Kind: KindBits, Count: 16, Coils: true, Bit: -1}})
	reqs := planReads(d, 16)
	// registers 0-4 (gap 1), 30 (gap 25 > 16), 200; coils 0..2005 exceed 2000 bits: two requests
	if len(reqs) != 5 {
		for _, r := range reqs {
			t.Logf("fc %d addr %d count %d", r.fc, r.addr, r.count)
		}
		t.Fatalf("got %d requests, want 5", len(reqs))
	}
	if r := reqs[2]; r.fc != 3 || r.count != 5 || len(r.parts) != 3 {
		t.Errorf("first register request: %+v", reqs[2])
	}
}

// TestDecodeAddressRange: "address": "start-end" gives one item per objectsCount block from start to end, each
// with its tag rendered for its address (or "_<address>" appended when the tag names no ${address}).
func TestDecodeAddressRange(t *testing.T) {
	cases := []struct{ item, want string }{
		{`{"tag":"r${address}","type":"16int","functionCode":3,"address":"0-3"}`, "r0@0 r1@1 r2@2 r3@3"},
		{`{"tag":"reg","type":"16uint","functionCode":4,"address":" 10 - 11 "}`, "reg_10@10 reg_11@11"},
		{`{"tag":"e${address}","type":"32uint","functionCode":3,"objectsCount":2,"address":"100-102"}`, "e100@100 e102@102"},
		{`{"tag":"e${address}","type":"32uint","functionCode":3,"objectsCount":2,"address":"100-103"}`, "e100@100 e102@102"},
		{`{"tag":"u${unitId}.f${functionCode}.${type}.n${objectsCount}.a${address}.${other}","type":"bits","functionCode":1,"address":"7-8"}`,
			"u9.f1.bits.n1.a7.${other}@7 u9.f1.bits.n1.a8.${other}@8"},
		{`{"tag":"one${address}","type":"16int","functionCode":3,"address":"5-5"}`, "one5@5"},
		{`{"tag":"plain","type":"16int","functionCode":3,"address":5}`, "plain@5"},
	}
	for _, tc := range cases {
		cfg, w, err := Decode([]byte(`{"master":{"slaves":[{"host":"h","pollPeriod":1,"unitId":9,"timeseries":[` + tc.item + `]}]}}`))
		if err != nil || len(w) != 0 {
			t.Errorf("%s: err %v, warnings %q", tc.item, err, w)
			continue
		}
		var got []string
		for _, it := range cfg.Devices[0].Timeseries {
			got = append(got, fmt.Sprintf("%s@%d", it.Tag, it.Address))
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.item, g, tc.want)
		}
	}
}

// TestDecodeLocalEcho: handleLocalEcho on a serial line is honoured (no warning); on a TCP line, where the Python
// gateway does not use it either, it is a warning naming the key; false says nothing.
func TestDecodeLocalEcho(t *testing.T) {
	const serial = `{"master":{"slaves":[{"type":"serial","method":"%s","port":"/dev/ttyS0","pollPeriod":1,"handleLocalEcho":%s}]}}`
	for _, method := range []string{"rtu", "ascii"} {
		cfg, w, err := Decode(fmt.Appendf(nil, serial, method, "true"))
		if err != nil || len(w) != 0 || !cfg.Devices[0].HandleLocalEcho || cfg.Devices[0].Method != method {
			t.Errorf("%s true: err %v, warnings %q, device %+v", method, err, w, cfg.Devices[0])
		}
		if cfg, w, err := Decode(fmt.Appendf(nil, serial, method, "false")); err != nil || len(w) != 0 || cfg.Devices[0].HandleLocalEcho {
			t.Errorf("%s false: err %v, warnings %q", method, err, w)
		}
	}
	const tcp = `{"master":{"slaves":[{"host":"h","pollPeriod":1,"handleLocalEcho":true}]}}`
	w, err := Check(tbgateway.ConnectorConfig{File: "m.json", Raw: []byte(tcp)})
	want := []string{"m.json: master.slaves[0].handleLocalEcho: applies to serial lines only (as in the Python gateway); ignored for type tcp"}
	if err != nil || !slices.Equal(w, want) {
		t.Errorf("tcp: err %v, warnings %q", err, w)
	}
}
