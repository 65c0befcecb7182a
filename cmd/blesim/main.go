// Command blesim plays a Bluetooth LE thermometer for `make demo`: it starts a private dbus-daemon, serves BlueZ's
// D-Bus API there with the test stand-in of bluetoothd (internal/bluez/bluezsim), and adds one thermometer that
// notifies its temperature and humidity every second. It prints the bus address on its first line of output,
// "BUS=<address>", and runs until its standard input closes or it is interrupted.
//
// It is a separate program so that the stand-in never becomes part of the gateway's binary; `tbgateway demo`
// starts it when it finds it next to itself (or with -ble-sim) and points its BLE connector at the bus.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tbgateway/tbgateway/internal/bluez/bluezsim"
)

// The thermometer as the demo's ble.json names it.
const (
	thermometerMAC  = "C0:FF:EE:00:00:01"
	thermometerName = "Demo Thermometer"
	envSensing      = "0000181a-0000-1000-8000-00805f9b34fb" // Environmental Sensing service
	measurement     = "226caa55-6476-4566-7562-66734470666d" // humidity, flags, temperature: as the Python sample reads it
	deviceName      = "00002a00-0000-1000-8000-00805f9b34fb"
	batteryService  = "0000180f-0000-1000-8000-00805f9b34fb"
	batteryLevel    = "00002a19-0000-1000-8000-00805f9b34fb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { // the demo closes our stdin when it stops, also when it is killed
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "blesim: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	bus, err := bluezsim.RunBus(startCtx)
	if err != nil {
		return err
	}
	defer bus.Close()
	sim, err := bluezsim.New(startCtx, bus.Address, bluezsim.Options{})
	if err != nil {
		return err
	}
	defer sim.Close()
	dev := sim.AddDevice(bluezsim.DeviceSpec{
		Address: thermometerMAC, Name: thermometerName, RSSI: -52,
		ManufacturerData: map[uint16][]byte{0xffff: {0x01}},
		Services: []bluezsim.ServiceSpec{
			{UUID: envSensing, Characteristics: []bluezsim.CharSpec{
				{UUID: measurement, Flags: []string{"read", "notify"}, Value: reading(0)},
				{UUID: deviceName, Flags: []string{"read", "write"}, Value: []byte(thermometerName)},
			}},
			{UUID: batteryService, Characteristics: []bluezsim.CharSpec{
				{UUID: batteryLevel, Flags: []string{"read"}, Value: []byte{100}},
			}},
		},
	})
	fmt.Printf("BUS=%s\n", bus.Address)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		v := reading(n)
		dev.SetValue(measurement, v)
		dev.Notify(measurement, v) // false while the gateway is not subscribed: nothing to send then
		dev.SetValue(batteryLevel, []byte{byte(100 - n/60%100)})
	}
}

// reading is the measurement value at second n: humidity %, a flags byte, temperature °C.
func reading(n int) []byte {
	temp := 20 + n%6     // 20..25
	hum := 45 + (n/3)%10 // 45..54
	return []byte{byte(hum), 0, byte(temp)}
}
