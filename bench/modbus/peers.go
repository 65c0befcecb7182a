package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tbgateway/tbgateway/connectors/modbus"
	"github.com/tbgateway/tbgateway/tbemu"
)

const peersToken = "bench-modbus"

// runPeers is the child process: -endpoints Modbus TCP servers (unit 1 on each; every device on an endpoint
// reads the same registers), whose holding registers 0..R-1 all change every poll period, and tbemu. It prints
// "modbus ADDR...", "mqtt ADDR" and "READY", then answers commands on stdin until its input ends.
func runPeers(o opts) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	emu, err := tbemu.Start(ctx, tbemu.Options{Logger: slog.New(slog.DiscardHandler), MaxPayloadSize: 1 << 20})
	if err != nil {
		return err
	}
	defer emu.Close()
	if err := emu.AddDevice(tbemu.DeviceSpec{Name: "Bench Modbus Gateway", Type: "gateway", Gateway: true, Token: peersToken}); err != nil {
		return err
	}
	banks := make([]*modbus.Bank, o.endpoints)
	addrs := make([]string, o.endpoints)
	for i := range banks {
		banks[i] = modbus.NewBank(false)
		banks[i].SetRegisters(1, modbus.HoldingRegisters, 0, make([]uint16, o.registers))
		srv, err := modbus.ServeTCP("127.0.0.1:0", banks[i])
		if err != nil {
			return err
		}
		defer srv.Close()
		addrs[i] = srv.Addr()
	}
	go tick(ctx, banks, o)
	fmt.Printf("modbus %s\nmqtt %s\nREADY\n", strings.Join(addrs, " "), emu.MQTTAddr())

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "count":
			n := 0
			for d := range o.devices {
				for r := range o.registers {
					n += len(emu.Telemetry(deviceName(d), "r"+strconv.Itoa(r)))
				}
			}
			fmt.Println(n)
		case "devices":
			n := 0
			for d := range o.devices {
				if len(emu.Latest(deviceName(d))) > 0 {
					n++
				}
			}
			fmt.Println(n)
		default:
			fmt.Println(-1)
		}
	}
	return in.Err()
}

// tick sets every register to a new value every poll period.
func tick(ctx context.Context, banks []*modbus.Bank, o opts) {
	t := time.NewTicker(o.poll)
	defer t.Stop()
	regs := make([]uint16, o.registers)
	for n := uint16(1); ; n++ {
		for i := range regs {
			regs[i] = n + uint16(i)
		}
		for _, b := range banks {
			b.SetRegisters(1, modbus.HoldingRegisters, 0, regs)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
