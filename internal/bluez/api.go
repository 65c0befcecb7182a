package bluez

// ScanOptions selects how Adapter.Scan listens.
type ScanOptions struct {
	// Passive scans without scan requests through an AdvertisementMonitor1 registered with the adapter's
	// AdvertisementMonitorManager1; only advertisements matching one of Patterns are reported.
	Passive bool
	// Patterns are the monitor's "or_patterns" (passive only), e.g. the complete local name
	// {Offset: 0, ADType: 0x09, Content: []byte(name)}.
	Patterns []Pattern
}

// Pattern is one advertisement monitor pattern: the AD structure of type ADType whose data, from byte Offset on,
// starts with Content.
type Pattern struct {
	Offset  byte
	ADType  byte
	Content []byte
}

// Advertisement is what a scan saw of one device: the device's current Device1 properties after an advertisement
// added it or changed its RSSI, ManufacturerData, ServiceData or Name. The maps and slices belong to the receiver.
type Advertisement struct {
	Address          string            // "AA:BB:CC:DD:EE:FF", upper case
	Name             string            // Alias, else Name; may be empty
	RSSI             int16             // 0 when BlueZ reports none
	ManufacturerData map[uint16][]byte // company id -> data
	ServiceData      map[string][]byte // lower-case 128-bit UUID -> data
	ServiceUUIDs     []string          // lower-case 128-bit UUIDs
}

// Service is one resolved GATT service of a connected device with its characteristics.
type Service struct {
	UUID            string // lower-case 128-bit form
	Primary         bool
	Characteristics []Characteristic
}

// Characteristic is one GATT characteristic: its UUID (lower-case 128-bit form) and its flags as BlueZ reports
// them ("read", "write", "write-without-response", "notify", "indicate", ...).
type Characteristic struct {
	UUID  string
	Flags []string
}
