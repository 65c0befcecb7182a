package blackbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/tbgateway/tbgateway/connectors/modbus"
)

// ModbusConfig reads a corpus Modbus config (remote-configuration shape, {"Modbus": {..., "configurationJson"}})
// and points every slave at addr, polling every pollMs with a 5 s timeout; edit, if not nil, then changes each
// slave further. It returns the whole document.
func ModbusConfig(file, addr string, pollMs int, edit func(slave map[string]any)) (map[string]map[string]any, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc map[string]map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, err
	}
	for _, s := range ModbusSlaves(doc) {
		s["host"], s["port"], s["pollPeriod"], s["timeout"] = host, port, pollMs, 5
		if edit != nil {
			edit(s)
		}
	}
	return doc, nil
}

// ModbusSlaves returns the slave sections of a corpus Modbus config document (nil when it has none).
func ModbusSlaves(doc map[string]map[string]any) []map[string]any {
	conf, _ := doc["Modbus"]["configurationJson"].(map[string]any)
	master, _ := conf["master"].(map[string]any)
	list, _ := master["slaves"].([]any)
	var out []map[string]any
	for _, s := range list {
		if m, ok := s.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// Item is the part of a corpus Modbus item a test needs to call it or read a written value back.
type Item struct {
	Tag          string `json:"tag"`
	Type         string `json:"type"`
	FunctionCode int    `json:"functionCode"`
	ObjectsCount int    `json:"objectsCount"`
	Address      int    `json:"address"`
}

// Items returns the items of the first slave's section ("rpc", "attributeUpdates", "timeseries") of a corpus
// Modbus config document, by tag; a config without one fails t.
func Items(t testing.TB, doc map[string]map[string]any, section string) map[string]Item {
	t.Helper()
	slaves := ModbusSlaves(doc)
	if len(slaves) == 0 {
		t.Fatal("no slaves in the config")
	}
	b, err := json.Marshal(slaves[0][section])
	if err != nil {
		t.Fatal(err)
	}
	var items []Item
	if err := json.Unmarshal(b, &items); err != nil {
		t.Fatalf("slave section %s: %v", section, err)
	}
	out := map[string]Item{}
	for _, it := range items {
		out[it.Tag] = it
	}
	return out
}

// ReadBack decodes what a write item (function code 5, 6, 15 or 16) wrote, from the bank's coils or holding
// registers at unit modbus.CorpusUnit, in the given byte and word order ("BIG" or "LITTLE"), unrounded. A
// function code 6 item of more than one register writes only its first: nil is returned for it. An item that
// cannot be read back fails t.
func ReadBack(t testing.TB, bank *modbus.Bank, it Item, order string) any {
	t.Helper()
	readFC, ok := map[int]int{5: 1, 15: 1, 6: 3, 16: 3}[it.FunctionCode]
	if !ok {
		t.Fatalf("item %s: function code %d writes nothing", it.Tag, it.FunctionCode)
	}
	c, err := modbus.NewCodec(it.Type, it.ObjectsCount, readFC, order, order)
	if err != nil {
		t.Fatal(err)
	}
	c.Round = -1 // the value as written, not as an uplink would round it
	if it.FunctionCode == 6 && c.Objects() > 1 {
		return nil
	}
	var v any
	if readFC == 1 {
		v, err = c.DecodeBits(bank.Bits(modbus.CorpusUnit, modbus.Coils, uint16(it.Address), c.Objects()))
	} else {
		v, err = c.DecodeRegisters(bank.Registers(modbus.CorpusUnit, modbus.HoldingRegisters, uint16(it.Address), c.Objects()))
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// SameWritten says whether a value read back with ReadBack is the corpus value want, also when the corpus
// shows a written float rounded to 6 places.
func SameWritten(want, got any) bool { return Same(want, got) || Same(want, Round6(got)) }

// decodeNumbers decodes one JSON value, numbers as json.Number; anything after it is an error.
func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}

// ModbusCase is a family of corpus Modbus cases: a config name and a values name, each run for both byte orders
// (Orders; the files end in _big.json and _little.json).
type ModbusCase struct{ Config, Values string }

// Orders are the byte and word orders every Modbus case runs with, as the file names spell them.
var Orders = []string{"big", "little"}

// The corpus' Modbus case families, by the folders of their files.
var (
	// ModbusUplinkCases: configs/uplink_configs/modbus_uplink_converter_<Config>_<order>.json,
	// test_values/uplink/<Values>_<order>.json.
	ModbusUplinkCases = []ModbusCase{
		{"coils_reading", "discrete_and_coils_registers_values"},
		{"discrete_input_reading", "discrete_and_coils_registers_values"},
		{"holding_registers_reading", "holding_registers_values"},
		{"input_registers_reading", "input_registers_values"},
	}
	// ModbusRPCCases: configs/rpc_configs/<Config>_{reading,writing}_rpc_<order>.json,
	// test_values/rpc/<Values>_{reading,writing}_<order>.json.
	ModbusRPCCases = []ModbusCase{
		{"coils", "discrete_and_coils_registers_values"}, {"discrete_inputs", "discrete_and_coils_registers_values"},
		{"holding_registers", "holding_registers_values"}, {"input_registers", "input_registers_values"},
	}
	// ModbusAttributeUpdateCases: configs/attrs_update_configs/attrs_update_<Config>_<order>.json,
	// test_values/attrs_update/<Values>_<order>.json.
	ModbusAttributeUpdateCases = []ModbusCase{
		{"coils_registers", "discrete_and_coils_registers_values"}, {"discrete_input", "discrete_and_coils_registers_values"},
		{"holding_registers", "holding_registers_values"}, {"input_registers", "input_registers_values"},
	}
)

// StartCorpusServer serves a fresh modbus.CorpusBank over Modbus TCP on a free loopback port until t ends.
func StartCorpusServer(t testing.TB) (*modbus.Bank, *modbus.Server) {
	t.Helper()
	bank := modbus.CorpusBank()
	srv, err := modbus.ServeTCP("127.0.0.1:0", bank)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return bank, srv
}
