package modbus

import (
	"slices"
)

// readRequest is one Modbus read covering one or more items of a device.
type readRequest struct {
	fc    int
	addr  uint16
	count int
	parts []readPart
}

// readPart locates an item inside a request's result.
type readPart struct {
	item   *Item
	attr   bool // attribute, else time series
	offset int  // objects from the request's start
}

// planReads merges a device's reads into as few requests as the protocol allows: items of one function code
// whose objects lie at most gap objects apart share a request, up to 125 registers or 2000 bits.
func planReads(d *Device, gap int) []*readRequest {
	type entry struct {
		item *Item
		attr bool
	}
	var all []entry
	for _, it := range d.Attributes {
		all = append(all, entry{it, true})
	}
	for _, it := range d.Timeseries {
		all = append(all, entry{it, false})
	}
	slices.SortStableFunc(all, func(a, b entry) int {
		if a.item.FunctionCode != b.item.FunctionCode {
			return a.item.FunctionCode - b.item.FunctionCode
		}
		return int(a.item.Address) - int(b.item.Address)
	})
	var out []*readRequest
	var cur *readRequest
	for _, e := range all {
		limit := MaxRegistersPerRead
		if e.item.Codec.Coils {
			limit = MaxBitsPerRead
		}
		start, n := int(e.item.Address), e.item.Codec.Objects()
		if cur != nil && cur.fc == e.item.FunctionCode && start <= int(cur.addr)+cur.count+gap &&
			max(int(cur.addr)+cur.count, start+n)-int(cur.addr) <= limit {
			cur.count = max(cur.count, start+n-int(cur.addr))
			cur.parts = append(cur.parts, readPart{item: e.item, attr: e.attr, offset: start - int(cur.addr)})
			continue
		}
		cur = &readRequest{fc: e.item.FunctionCode, addr: e.item.Address, count: n,
			parts: []readPart{{item: e.item, attr: e.attr}}}
		out = append(out, cur)
	}
	return out
}

// split returns one request per item of r, used when a merged read hits addresses the device refuses.
func (r *readRequest) split() []*readRequest {
	out := make([]*readRequest, len(r.parts))
	for i, p := range r.parts {
		out[i] = &readRequest{fc: r.fc, addr: p.item.Address, count: p.item.Codec.Objects(),
			parts: []readPart{{item: p.item, attr: p.attr}}}
	}
	return out
}
