package bluez

import (
	"fmt"
	"strings"
)

const baseUUIDSuffix = "-0000-1000-8000-00805f9b34fb"

// ParseUUID returns the lower-case 128-bit form ("0000180f-0000-1000-8000-00805f9b34fb") of a Bluetooth UUID
// given in 16-bit ("180F", "0x180f"), 32-bit or 128-bit form (with or without dashes, any case).
func ParseUUID(s string) (string, error) {
	h := strings.ToLower(strings.TrimSpace(s))
	h = strings.TrimPrefix(h, "0x")
	plain := strings.ReplaceAll(h, "-", "")
	for _, r := range plain {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return "", fmt.Errorf("bluez: UUID %q: not hexadecimal", s)
		}
	}
	switch {
	case len(plain) == 4 && len(h) == 4:
		return "0000" + plain + baseUUIDSuffix, nil
	case len(plain) == 8 && len(h) == 8:
		return plain + baseUUIDSuffix, nil
	case len(plain) == 32 && (len(h) == 32 || len(h) == 36 && h[8] == '-' && h[13] == '-' && h[18] == '-' && h[23] == '-'):
		return plain[0:8] + "-" + plain[8:12] + "-" + plain[12:16] + "-" + plain[16:20] + "-" + plain[20:], nil
	}
	return "", fmt.Errorf("bluez: UUID %q: want 4, 8 or 32 hexadecimal digits", s)
}

// ParseMAC returns the upper-case "AA:BB:CC:DD:EE:FF" form of a MAC address given with ':' or '-' separators.
func ParseMAC(s string) (string, error) {
	m := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", ":"))
	if len(m) != 17 {
		return "", fmt.Errorf("bluez: MAC address %q: want six hexadecimal bytes separated by ':'", s)
	}
	for i := 0; i < 17; i++ {
		c := m[i]
		if i%3 == 2 {
			if c != ':' {
				return "", fmt.Errorf("bluez: MAC address %q: want six hexadecimal bytes separated by ':'", s)
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return "", fmt.Errorf("bluez: MAC address %q: want six hexadecimal bytes separated by ':'", s)
		}
	}
	return m, nil
}
