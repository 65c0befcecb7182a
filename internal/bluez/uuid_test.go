package bluez

import "testing"

func TestParseUUID(t *testing.T) {
	for in, want := range map[string]string{
		"2a19":                                 "00002a19-0000-1000-8000-00805f9b34fb",
		"0x2A19":                               "00002a19-0000-1000-8000-00805f9b34fb",
		"0000180F":                             "0000180f-0000-1000-8000-00805f9b34fb",
		"226CAA55-6476-4566-7562-66734470666D": "226caa55-6476-4566-7562-66734470666d",
		"226caa5564764566756266734470666d":     "226caa55-6476-4566-7562-66734470666d",
	} {
		if got, err := ParseUUID(in); err != nil || got != want {
			t.Errorf("ParseUUID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "2a1", "2a19x", "226CAA55-6476-4566-7562-66734470666", "226CAA556-476-4566-7562-66734470666D"} {
		if got, err := ParseUUID(in); err == nil {
			t.Errorf("ParseUUID(%q) = %q, want an error", in, got)
		}
	}
}

func TestParseMAC(t *testing.T) {
	for in, want := range map[string]string{"4c:65:a8:df:85:c0": "4C:65:A8:DF:85:C0", "4C-65-A8-DF-85-C0": "4C:65:A8:DF:85:C0"} {
		if got, err := ParseMAC(in); err != nil || got != want {
			t.Errorf("ParseMAC(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "4C:65:A8:DF:85", "4C:65:A8:DF:85:CG", "4C65A8DF85C0AAAAA"} {
		if got, err := ParseMAC(in); err == nil {
			t.Errorf("ParseMAC(%q) = %q, want an error", in, got)
		}
	}
}
