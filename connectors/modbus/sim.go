package modbus

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/tbgateway/tbgateway/internal/values"
)

// CorpusUnit is the unit id of the register map CorpusBank holds.
const CorpusUnit = 2

// corpusValues is the blackbox corpus' register map (see testdata/NOTICE): key, type, address, objectsCount and
// the value a LITTLE/LITTLE reader sees.
var corpusValues = []struct {
	key, typ    string
	addr, count int
	value       string
}{
	{"string", "string", 0, 2, `"abcd"`},
	{"bits", "bits", 2, 16, "[false,true,false,true,true,false,true,true,true,true,false,true,false,false,true,false]"},
	{"16int", "16int", 4, 1, "-22136"}, {"16uint", "16uint", 5, 1, "4660"}, {"32int", "32int", 6, 2, "-4660"},
	{"32uint", "32uint", 8, 2, "305419896"}, {"16float", "16float", 10, 1, "12.34375"},
	{"32float", "32float", 11, 2, "223546.34375"}, {"64int", "64int", 15, 4, "-3735928559"},
	{"64uint", "64uint", 19, 4, "1311768468603649775"}, {"64float", "64float", 27, 4, "123.45"},
}

// CorpusBank returns a bank with the Python gateway's blackbox register map at unit CorpusUnit: the same
// values in holding and input registers (string@0, bits@2, 16int@4, 16uint@5, 32int@6, 32uint@8, 16float@10,
// 32float@11, 64int@15, 64uint@19, 64float@27, written for LITTLE byte and word order), and the corpus' bit
// pattern in coils and discrete inputs 0-15.
func CorpusBank() *Bank {
	b := NewBank(false)
	for _, e := range corpusValues {
		k, err := parseKind(e.typ, e.count)
		if err != nil {
			panic(err) // the table above is fixed
		}
		c := &Codec{Kind: k, Count: e.count, LittleBytes: true, LittleWords: true, Bit: -1, Round: -1}
		v, _ := values.Decode([]byte(e.value))
		regs, err := c.EncodeRegisters(v)
		if err != nil {
			panic(fmt.Sprintf("corpus %s: %v", e.key, err))
		}
		b.SetRegisters(CorpusUnit, HoldingRegisters, uint16(e.addr), regs)
		b.SetRegisters(CorpusUnit, InputRegisters, uint16(e.addr), regs)
	}
	bitsCodec := &Codec{Kind: KindBits, Count: 16, Coils: true, Bit: -1}
	v, _ := values.Decode([]byte(corpusValues[1].value))
	bits, err := bitsCodec.EncodeBits(v)
	if err != nil {
		panic(err)
	}
	b.SetBits(CorpusUnit, Coils, 0, bits)
	b.SetBits(CorpusUnit, DiscreteInputs, 0, bits)
	return b
}

// Simulator registers updated by RunSimulator (unit CorpusUnit, holding registers, big-endian).
const (
	SimTemperatureAddr = 100 // 16int, tenths of a degree: a sine between 18.0 and 26.0 over a minute
	SimCounterAddr     = 101 // 16uint, +1 every tick
)

// RunSimulator serves CorpusBank over Modbus TCP on addr (port 0 picks a free port) and, until ctx is done,
// updates a temperature and a counter register every tick (one second when tick is 0). It returns the
// server, whose Addr says where it listens; the updates stop and the server closes when ctx is done. For demos.
func RunSimulator(ctx context.Context, addr string, tick time.Duration) (*Server, error) {
	if tick <= 0 {
		tick = time.Second
	}
	bank := CorpusBank()
	srv, err := ServeTCP(addr, bank)
	if err != nil {
		return nil, err
	}
	go func() {
		defer srv.Close()
		t := time.NewTicker(tick)
		defer t.Stop()
		var n uint16
		for {
			phase := float64(time.Now().UnixNano()) / 1e9 / 60
			temp := int16(math.Round(220 + 40*math.Sin(2*math.Pi*phase)))
			bank.SetRegisters(CorpusUnit, HoldingRegisters, SimTemperatureAddr, []uint16{uint16(temp), n})
			n++
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return srv, nil
}
