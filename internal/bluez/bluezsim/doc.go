// Package bluezsim is a strict stand-in of bluetoothd for tests and benchmarks: it owns the name org.bluez on a
// private D-Bus (StartBus) and exports the objects and methods BlueZ documents (doc/org.bluez.Adapter.rst,
// Device.rst, GattService.rst, GattCharacteristic.rst, AdvertisementMonitor.rst, AdvertisementMonitorManager.rst),
// with the error names BlueZ sends. Nothing here touches a radio. It is imported by tests, benchmarks and demos
// only, never by the gateway binary.
package bluezsim
