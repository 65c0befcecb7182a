package modbus

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/template"
)

// MaxRangeItems bounds the items one "start-end" address range expands to.
const MaxRangeItems = 1024

// addrRange is an item's "address": "start-end" (both inclusive), as the Python gateway reads it.
type addrRange struct{ start, end int }

// isAddrRange reports whether an "address" value is a range: text with a "-" after its first character.
func isAddrRange(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok && strings.Contains(strings.TrimPrefix(strings.TrimSpace(s), "-"), "-")
}

// parseAddrRange reads "start-end"; it fails on o's "address" key for a malformed, reversed or out-of-range range.
func parseAddrRange(o *confjson.Object, s string) (addrRange, bool) {
	d := o.Decoder()
	a, b, _ := strings.Cut(strings.TrimSpace(s), "-")
	start, err1 := strconv.Atoi(strings.TrimSpace(a))
	end, err2 := strconv.Atoi(strings.TrimSpace(b))
	switch {
	case err1 != nil || err2 != nil:
		d.Fail(o.Key("address"), `a register address 0-65535 or a range "start-end"`, s)
	case start < 0 || end > 65535:
		d.Failf(o.Key("address"), "address range %q runs outside 0-65535", s)
	case end < start:
		d.Failf(o.Key("address"), "address range %q is reversed: its end is below its start", s)
	default:
		return addrRange{start, end}, true
	}
	return addrRange{}, false
}

// expandRange turns an item decoded at a range's start into one item per object block: addresses start,
// start+objectsCount, ... up to end, as the Python gateway reads "start-end". The tag is rendered per address
// with ${address}, ${unitId}, ${functionCode}, ${type} and ${objectsCount}; a tag without ${address} gets
// "_<address>" appended so the keys stay distinct. It fails on the range's key for more than MaxRangeItems items
// or a last block past address 65535.
func expandRange(o *confjson.Object, it *Item, r addrRange, unitID uint8) []*Item {
	d := o.Decoder()
	step := it.Codec.Count
	if step < 1 {
		step = 1
	}
	n := (r.end-r.start)/step + 1
	if n > MaxRangeItems {
		d.Failf(o.Key("address"), "address range %d-%d gives %d items, more than %d", r.start, r.end, n, MaxRangeItems)
		return nil
	}
	last := r.start + (n-1)*step
	if objs := it.Codec.Objects(); last+objs > 65536 {
		d.Failf(o.Key("address"), "address range %d-%d: the item at %d (%d objects) runs past address 65535",
			r.start, r.end, last, objs)
		return nil
	}
	tag, err := template.Names(it.Tag)
	if err != nil {
		d.Failf(o.Key("tag"), "%v", err)
		return nil
	}
	hasAddr := false
	for _, p := range tag.Exprs() {
		hasAddr = hasAddr || p.Expr == "address"
	}
	out := make([]*Item, 0, n)
	for i := range n {
		addr := r.start + i*step
		c := *it
		c.Address = uint16(addr)
		c.Path = fmt.Sprintf("%s (address %d)", it.Path, addr)
		c.Tag = tag.Render(template.Vars(map[string]string{
			"address": strconv.Itoa(addr), "unitId": strconv.Itoa(int(unitID)),
			"functionCode": strconv.Itoa(it.FunctionCode), "type": it.TypeName, "objectsCount": strconv.Itoa(it.Codec.Count),
		}))
		if !hasAddr {
			c.Tag += "_" + strconv.Itoa(addr)
		}
		out = append(out, &c)
	}
	return out
}
