package expression

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsExamplesCompile compiles every expression of docs/converters.md (its ```expr blocks), so the examples
// users copy stay valid.
func TestDocsExamplesCompile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "converters.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(b), "```expr\n")[1:]
	if len(blocks) < 8 {
		t.Fatalf("found %d expression examples, want at least 8", len(blocks))
	}
	for _, blk := range blocks {
		src := blk[:strings.Index(blk, "```")]
		if _, err := Compile(src, Limits{}); err != nil {
			t.Errorf("example\n%s\ndoes not compile: %v", src, err)
		}
	}
}

// TestDocsBinaryFrame evaluates the documentation's binary-frame example: mixed byte and integer arithmetic,
// bit tests on bytes and a checksum by reduce.
func TestDocsBinaryFrame(t *testing.T) {
	u, err := NewUplink(`len(payload) < 8 ? nil : {
  deviceName: "node-" + toHex(payload[0:2]),
  telemetry: {
    temperature: readInt(payload, 2, 2, "little") / 100.0,
    humidity: payload[4] / 2.0,
    lowBattery: bit(payload[5], 0),
    frameOk: reduce(payload[0:7], #acc + #, 0) % 256 == payload[7]
  }
}`, Limits{}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := u.Convert("", []byte{0x00, 0x2a, 0x29, 0x09, 0x50, 0x01, 0x00, 173})
	if err != nil {
		t.Fatal(err)
	}
	v := recs[0].Telemetry[0].Values
	if recs[0].Device != "node-002a" || v["temperature"] != 23.45 || v["humidity"] != 40.0 || v["lowBattery"] != true || v["frameOk"] != true {
		t.Fatalf("record %+v", recs[0])
	}
	if recs, err := u.Convert("", []byte{1, 2}); recs != nil || err != nil {
		t.Fatalf("short frame: %v, %v", recs, err)
	}
}
