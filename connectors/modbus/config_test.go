package modbus

import (
	"os"
	"path/filepath"
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

func TestDecodeErrorsNameFileAndPath(t *testing.T) {
	cases := map[string]string{
		`{"master":{"slaves":[{"host":"h","port":1,"unitId":1,"deviceName":"D"}]}}`:                                                    "master.slaves[0].pollPeriod: required",
		`{"master":{"slaves":[{"host":"h","port":1,"pollPeriod":1,"byteOrder":"MIDDLE"}]}}`:                                            "master.slaves[0].byteOrder: want BIG or LITTLE",
		`{"master":{"slaves":[{"host":"h","pollPeriod":1,"timeseries":[{"tag":"t","type":"16int","functionCode":7,"address":0}]}]}}`:   "master.slaves[0].timeseries[0].functionCode: want 1",
		`{"master":{"slaves":[{"host":"h","pollPeriod":1,"timeseries":[{"tag":"t","type":"16int","functionCode":3,"address":"x"}]}]}}`: "master.slaves[0].timeseries[0].address: want a number",
		`{"slave":{"type":"serial","port":"/dev/ttyS0"}}`:                                                                              "slave.type: slave mode over \"serial\" is not supported yet",
		`{"master":{"slaves":[{"type":"serial","method":"ascii","port":"/dev/ttyS0","pollPeriod":1}]}}`:                                "method \"ascii\" over serial is not supported yet",
	}
	for raw, want := range cases {
		_, err := Check(tbgateway.ConnectorConfig{File: "m.json", Raw: []byte(raw)})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "m.json: ") {
			t.Errorf("%s: got %v, want m.json: ...%s", raw, err, want)
		}
	}
	w, err := Check(tbgateway.ConnectorConfig{File: "m.json", Raw: []byte(`{"master":{"slaves":[{"host":"h","pollPeriod":1,"colour":1}]}}`)})
	if err != nil || len(w) != 1 || w[0] != "m.json: master.slaves[0].colour: unknown key, ignored" {
		t.Errorf("warnings %q, err %v", w, err)
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
