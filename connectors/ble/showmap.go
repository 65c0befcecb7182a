package ble

import (
	"context"
	"fmt"
	"strings"
)

// gattMap renders the device's services and characteristics with their flags, and the values of the readable
// ones, in the Python connector's layout:
//
//	MAP FOR <NAME>
//	| [Service] <uuid>
//	| 	[Characteristic] <uuid> (read,notify), Value: b'...'
func gattMap(ctx context.Context, d *device, l link) string {
	var b strings.Builder
	b.WriteString("MAP FOR " + strings.ToUpper(d.name))
	for _, s := range l.services() {
		b.WriteString("\n| [Service] " + s.uuid)
		for _, ch := range s.chars {
			value := "None"
			if hasFlag(ch.flags, "read") {
				if v, err := l.read(ctx, ch.uuid); err != nil {
					value = err.Error()
				} else {
					value = pyBytes(v)
				}
			}
			fmt.Fprintf(&b, "\n| \t[Characteristic] %s (%s), Value: %s", ch.uuid, strings.Join(ch.flags, ","), value)
		}
	}
	return b.String()
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

// pyBytes writes b as Python's bytes repr does: b'ab\x01'.
func pyBytes(v []byte) string {
	var b strings.Builder
	b.WriteString("b'")
	for _, c := range v {
		switch {
		case c == '\\' || c == '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
