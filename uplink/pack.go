package uplink

import (
	"fmt"
	"strconv"

	"github.com/tbgateway/tbgateway"
)

// Gateway API topics the uplink publishes and subscribes.
const (
	topicGwConnect    = "v1/gateway/connect"
	topicGwDisconnect = "v1/gateway/disconnect"
	topicGwTelemetry  = "v1/gateway/telemetry"
	topicGwAttributes = "v1/gateway/attributes"
	topicGwAttrReq    = "v1/gateway/attributes/request"
	topicGwAttrResp   = "v1/gateway/attributes/response"
	topicGwRPC        = "v1/gateway/rpc"
)

// publishOverhead is the MQTT 5 PUBLISH packet size besides topic and payload: fixed header (1 + up to 4 bytes of
// remaining length), topic length (2), packet id (2) and an empty property block (1).
const publishOverhead = 10

// payloadLimit is the largest payload that keeps a PUBLISH on topic within packetLimit bytes.
func payloadLimit(packetLimit int, topic string) int {
	return packetLimit - publishOverhead - len(topic)
}

// outMsg is one packed gateway-API message ready to publish.
type outMsg struct {
	topic      string
	payload    []byte
	seqs       []uint64 // records with a part in this message, each once
	devices    []string
	datapoints int
}

// deadValue reports a record (or one of its values) that can never be sent: key is empty for the whole record.
type deadValue struct {
	seq    uint64
	device string
	key    string
	reason string
}

// packer turns records into gateway-API messages no bigger than the packet limit. It keeps every device's
// records in order within the telemetry stream and within the attribute stream, and treats connect and
// disconnect as barriers: a device's open telemetry and attributes are flushed before its connect/disconnect is
// emitted. Attributes and telemetry are separate streams at ThingsBoard, so a record's attributes may leave in a
// message before or after an earlier record's telemetry. Not safe for concurrent use.
type packer struct {
	limit      int // packet limit in bytes
	tel, attr  *builder
	out        []*outMsg
	dead       []deadValue
	maxDP      int // datapoints one message may carry for the device being added (0 = unlimited)
	msgMaxDP   int // datapoints one message may carry in all (0 = unlimited)
	onNewChunk func(device string, telemetry bool)
	kv, prefix []byte
	parts      int // parts of the record being added
	// publishedTS, when set, returns the publish time in ms and turns on latency metadata (Config.LatencyMetadata).
	publishedTS func() int64
	meta        []byte // the metadata member of the record being added, or empty
}

func newPacker(packetLimit int) *packer {
	return &packer{
		limit: packetLimit,
		tel:   newBuilder(topicGwTelemetry, '[', ']', payloadLimit(packetLimit, topicGwTelemetry)),
		attr:  newBuilder(topicGwAttributes, '{', '}', payloadLimit(packetLimit, topicGwAttributes)),
	}
}

// setLimit changes the packet limit; open messages are flushed first.
func (p *packer) setLimit(packetLimit int) {
	p.flush()
	p.limit = packetLimit
	p.tel.limit = payloadLimit(packetLimit, topicGwTelemetry)
	p.attr.limit = payloadLimit(packetLimit, topicGwAttributes)
}

// add packs one record and returns how many messages carry parts of it (0 when nothing of it can be sent; the
// reasons are in p.dead).
func (p *packer) add(e *tbgateway.Entry) int {
	p.parts = 0
	r := &e.Record
	switch r.Kind {
	case tbgateway.KindConnect, tbgateway.KindDisconnect:
		p.barrier(r.Device)
		topic := topicGwDisconnect
		b := append([]byte(nil), `{"device":`...)
		b = appendString(b, r.Device)
		if r.Kind == tbgateway.KindConnect {
			topic = topicGwConnect
			typ := r.DeviceType
			if typ == "" {
				typ = tbgateway.DefaultDeviceType
			}
			b = append(b, `,"type":`...)
			b = appendString(b, typ)
		}
		b = append(b, '}')
		if len(b) > payloadLimit(p.limit, topic) {
			p.dead = append(p.dead, deadValue{seq: e.Seq, device: r.Device, reason: r.Kind.String() + " message exceeds the payload limit"})
			return 0
		}
		p.out = append(p.out, &outMsg{topic: topic, payload: b, seqs: []uint64{e.Seq}, devices: []string{r.Device}})
		return 1
	case tbgateway.KindData:
	default:
		p.dead = append(p.dead, deadValue{seq: e.Seq, device: r.Device, reason: "unknown record kind " + r.Kind.String()})
		return 0
	}
	for k, v := range r.Attributes {
		p.addAttribute(e.Seq, r.Device, k, v)
	}
	p.meta = p.meta[:0]
	if p.publishedTS != nil && r.Connector != "" && r.ReceivedTS > 0 && len(r.Telemetry) > 0 {
		p.meta = append(p.meta, `"metadata":{"connector":`...)
		p.meta = appendString(p.meta, r.Connector)
		p.meta = append(p.meta, `,"receivedTs":`...)
		p.meta = strconv.AppendInt(p.meta, r.ReceivedTS, 10)
		p.meta = append(p.meta, `,"publishedTs":`...)
		p.meta = strconv.AppendInt(p.meta, p.publishedTS(), 10)
		p.meta = append(p.meta, `},`...)
	}
	for i := range r.Telemetry {
		p.addTelemetry(e.Seq, r.Device, &r.Telemetry[i])
	}
	return p.parts
}

func (p *packer) deadKV(seq uint64, dev, key, why string) {
	p.dead = append(p.dead, deadValue{seq: seq, device: dev, key: key, reason: why})
}

func (p *packer) dpAllowed(b *builder, dev string) bool {
	if p.msgMaxDP > 0 && b.dps >= p.msgMaxDP {
		return false
	}
	if p.maxDP <= 0 {
		return true
	}
	c := b.lookup(dev)
	return c == nil || c.dps < p.maxDP
}

func (p *packer) addAttribute(seq uint64, dev, k string, v any) {
	kv, ok := appendKV(p.kv[:0], k, v)
	p.kv = kv
	if !ok {
		p.deadKV(seq, dev, k, fmt.Sprintf("attribute value of type %T cannot be encoded", v))
		return
	}
	for {
		b := p.attr
		if c := b.lookup(dev); c != nil {
			if _, dup := c.keys[k]; dup {
				p.flushBuilder(b) // one object cannot hold the key twice; the later value goes in the next message
				continue
			}
		}
		if b.fits(dev, len(kv)) && p.dpAllowed(b, dev) {
			p.note(b, seq, dev, false)
			b.addKV(dev, kv, k)
			return
		}
		if b.empty() {
			p.deadKV(seq, dev, k, "attribute does not fit in one message under the payload limit")
			return
		}
		p.flushBuilder(b)
	}
}

func (p *packer) addTelemetry(seq uint64, dev string, t *tbgateway.Telemetry) {
	prefix := append(p.prefix[:0], `{"ts":`...)
	prefix = strconv.AppendInt(prefix, t.TS, 10)
	prefix = append(prefix, ',')
	prefix = append(prefix, p.meta...)
	prefix = append(prefix, `"values":{`...)
	p.prefix = prefix
	b := p.tel
	inElem := false
	for k, v := range t.Values {
		kv, ok := appendKV(p.kv[:0], k, v)
		p.kv = kv
		if !ok {
			p.deadKV(seq, dev, k, fmt.Sprintf("telemetry value of type %T cannot be encoded", v))
			continue
		}
		for {
			if inElem {
				if b.fitsInElem(len(kv)) && p.dpAllowed(b, dev) {
					b.addElemKV(kv)
					break
				}
				b.endElem()
				inElem = false
			}
			if b.fits(dev, len(prefix)+len(kv)+2) && p.dpAllowed(b, dev) {
				p.note(b, seq, dev, true)
				b.beginElem(dev, prefix)
				b.addElemKV(kv)
				inElem = true
				break
			}
			if b.empty() {
				p.deadKV(seq, dev, k, "telemetry value does not fit in one message under the payload limit")
				break
			}
			p.flushBuilder(b)
		}
	}
	if inElem {
		b.endElem()
	}
}

// note records that seq has a part in b's open message and charges a new per-device chunk to the limiter.
func (p *packer) note(b *builder, seq uint64, dev string, telemetry bool) {
	if n := len(b.seqs); n == 0 || b.seqs[n-1] != seq {
		b.seqs = append(b.seqs, seq)
		p.parts++
	}
	if p.onNewChunk != nil && b.lookup(dev) == nil {
		p.onNewChunk(dev, telemetry)
	}
}

// barrier flushes the open messages that hold data of dev, so its connect/disconnect comes after them.
func (p *packer) barrier(dev string) {
	if p.tel.byDev[dev] != nil {
		p.flushBuilder(p.tel)
	}
	if p.attr.byDev[dev] != nil {
		p.flushBuilder(p.attr)
	}
}

// pending reports whether dev has data in an open message.
func (p *packer) pending(dev string) bool {
	return p.tel.byDev[dev] != nil || p.attr.byDev[dev] != nil
}

func (p *packer) flushBuilder(b *builder) {
	if m := b.finish(); m != nil {
		p.out = append(p.out, m)
	}
}

// flush closes both open messages.
func (p *packer) flush() {
	p.flushBuilder(p.tel)
	p.flushBuilder(p.attr)
}

// take returns the finished messages and dead values and clears them.
func (p *packer) take() ([]*outMsg, []deadValue) {
	out, dead := p.out, p.dead
	p.out, p.dead = nil, nil
	return out, dead
}

// builder accumulates one multi-device message: {"dev":<open>body<close>,...}. size is always the exact length
// of the payload finish would produce, counting the closing of an open telemetry element.
type builder struct {
	topic       string
	open, close byte
	limit       int
	chunks      []*chunk
	byDev       map[string]*chunk
	free        []*chunk
	size        int
	seqs        []uint64
	dps         int
	cur         *chunk // chunk with an open telemetry element
	curKVs      int
	last        *chunk // lookup cache
}

type chunk struct {
	dev   string
	qname []byte
	body  []byte
	n     int
	dps   int
	keys  map[string]struct{}
}

func newBuilder(topic string, open, close byte, limit int) *builder {
	return &builder{topic: topic, open: open, close: close, limit: limit, byDev: map[string]*chunk{}, size: 2}
}

func (b *builder) empty() bool { return len(b.chunks) == 0 }

// lookup returns dev's chunk in the open message, or nil; the last one used is cached because records of one
// device usually come in runs.
func (b *builder) lookup(dev string) *chunk {
	if b.last != nil && b.last.dev == dev {
		return b.last
	}
	c := b.byDev[dev]
	if c != nil {
		b.last = c
	}
	return c
}

// fits reports whether an item of n bytes can be added to dev's chunk.
func (b *builder) fits(dev string, n int) bool {
	if c := b.lookup(dev); c != nil {
		if c.n > 0 {
			n++
		}
		return b.size+n <= b.limit
	}
	extra := len(dev) + 2 + 3 // quotes, ':' and the brackets, before escaping
	if len(b.chunks) > 0 {
		extra++
	}
	return b.size+extra+escapedExtra(dev)+n <= b.limit
}

// escapedExtra is how many bytes JSON escaping adds to s beyond its raw length.
func escapedExtra(s string) int {
	return len(appendString(nil, s)) - len(s) - 2
}

func (b *builder) chunkFor(dev string) *chunk {
	if c := b.lookup(dev); c != nil {
		return c
	}
	var c *chunk
	if n := len(b.free); n > 0 {
		c, b.free = b.free[n-1], b.free[:n-1]
		c.body, c.qname, c.n, c.dps = c.body[:0], c.qname[:0], 0, 0
		clear(c.keys)
	} else {
		c = &chunk{}
	}
	c.dev = dev
	c.qname = appendString(c.qname, dev)
	if len(b.chunks) > 0 {
		b.size++
	}
	b.size += len(c.qname) + 3
	b.chunks = append(b.chunks, c)
	b.byDev[dev] = c
	b.last = c
	return c
}

func (b *builder) addKV(dev string, kv []byte, key string) {
	c := b.chunkFor(dev)
	if c.n > 0 {
		c.body = append(c.body, ',')
		b.size++
	}
	c.body = append(c.body, kv...)
	b.size += len(kv)
	c.n++
	c.dps++
	b.dps++
	if c.keys == nil {
		c.keys = map[string]struct{}{}
	}
	c.keys[key] = struct{}{}
}

func (b *builder) beginElem(dev string, prefix []byte) {
	c := b.chunkFor(dev)
	if c.n > 0 {
		c.body = append(c.body, ',')
		b.size++
	}
	c.body = append(c.body, prefix...)
	b.size += len(prefix) + 2 // the closing "}}" is reserved now
	c.n++
	b.cur, b.curKVs = c, 0
}

func (b *builder) fitsInElem(n int) bool {
	if b.curKVs > 0 {
		n++
	}
	return b.size+n <= b.limit
}

func (b *builder) addElemKV(kv []byte) {
	c := b.cur
	if b.curKVs > 0 {
		c.body = append(c.body, ',')
		b.size++
	}
	c.body = append(c.body, kv...)
	b.size += len(kv)
	b.curKVs++
	c.dps++
	b.dps++
}

func (b *builder) endElem() {
	b.cur.body = append(b.cur.body, '}', '}')
	b.cur = nil
}

// finish assembles the message and resets the builder; nil when empty.
func (b *builder) finish() *outMsg {
	if b.empty() {
		return nil
	}
	p := make([]byte, 0, b.size)
	p = append(p, '{')
	devs := make([]string, len(b.chunks))
	for i, c := range b.chunks {
		if i > 0 {
			p = append(p, ',')
		}
		p = append(p, c.qname...)
		p = append(p, ':', b.open)
		p = append(p, c.body...)
		p = append(p, b.close)
		devs[i] = c.dev
		delete(b.byDev, c.dev)
	}
	p = append(p, '}')
	if len(p) != b.size {
		panic(fmt.Sprintf("uplink: packer size accounting is off: %d != %d", len(p), b.size))
	}
	m := &outMsg{topic: b.topic, payload: p, seqs: b.seqs, devices: devs, datapoints: b.dps}
	b.free = append(b.free, b.chunks...)
	b.chunks = b.chunks[:0]
	b.seqs, b.size, b.dps, b.cur, b.last = nil, 2, 0, nil, nil
	return m
}
