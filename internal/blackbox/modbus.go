package blackbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"

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
// Modbus config document, by tag.
func Items(doc map[string]map[string]any, section string) (map[string]Item, error) {
	slaves := ModbusSlaves(doc)
	if len(slaves) == 0 {
		return nil, fmt.Errorf("no slaves in the config")
	}
	b, err := json.Marshal(slaves[0][section])
	if err != nil {
		return nil, err
	}
	var items []Item
	if err := json.Unmarshal(b, &items); err != nil {
		return nil, fmt.Errorf("slave section %s: %w", section, err)
	}
	out := map[string]Item{}
	for _, it := range items {
		out[it.Tag] = it
	}
	return out, nil
}

// ReadBack decodes what a write item (function code 5, 6, 15 or 16) wrote, from the bank's coils or holding
// registers at unit modbus.CorpusUnit, in the given byte and word order ("BIG" or "LITTLE"), unrounded. A
// function code 6 item of more than one register writes only its first: nil is returned for it.
func ReadBack(bank *modbus.Bank, it Item, order string) (any, error) {
	readFC, ok := map[int]int{5: 1, 15: 1, 6: 3, 16: 3}[it.FunctionCode]
	if !ok {
		return nil, fmt.Errorf("item %s: function code %d writes nothing", it.Tag, it.FunctionCode)
	}
	c, err := modbus.NewCodec(it.Type, it.ObjectsCount, readFC, order, order)
	if err != nil {
		return nil, err
	}
	c.Round = -1 // the value as written, not as an uplink would round it
	if it.FunctionCode == 6 && c.Objects() > 1 {
		return nil, nil
	}
	if readFC == 1 {
		return c.DecodeBits(bank.Bits(modbus.CorpusUnit, modbus.Coils, uint16(it.Address), c.Objects()))
	}
	return c.DecodeRegisters(bank.Registers(modbus.CorpusUnit, modbus.HoldingRegisters, uint16(it.Address), c.Objects()))
}

// SameWritten says whether a value read back with ReadBack is the corpus value want, also when the corpus
// shows a written float rounded to 6 places.
func SameWritten(want, got any) bool { return Same(want, got) || Same(want, Round6(got)) }

func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}
