package modbusproto

import (
	"bytes"
	"errors"
	"testing"
)

func TestEncodeRTU(t *testing.T) {
	got := EncodeRTU(1, PDU{Function: 3, Data: []byte{0, 0, 0, 0x0A}})
	if want := []byte{1, 3, 0, 0, 0, 0x0A, 0xC5, 0xCD}; !bytes.Equal(got, want) {
		t.Fatalf("EncodeRTU = % X, want % X", got, want)
	}
	unit, p, err := DecodeRTU(got)
	if err != nil || unit != 1 || p.Function != 3 || !bytes.Equal(p.Data, []byte{0, 0, 0, 0x0A}) {
		t.Fatalf("DecodeRTU = %d %+v %v", unit, p, err)
	}
	got[3] ^= 1
	if _, _, err := DecodeRTU(got); !errors.Is(err, ErrChecksum) {
		t.Fatalf("DecodeRTU of a changed frame = %v, want ErrChecksum", err)
	}
}
