package mqtt

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"

	"github.com/dlclark/regexp2"

	"github.com/tbgateway/tbgateway/internal/values"

	tbgateway "github.com/tbgateway/tbgateway"
)

// sliceRE finds the byte-slice expressions of a bytes converter: [i], [a:b], [a:], [:b], [:] (Python indexes,
// negative ones counting from the end).
var sliceRE = regexp.MustCompile(`\[(-?\d*)(:(-?\d*))?\]`)

// bytesTemplate is a compiled bytes-converter expression: literal text and slices of the raw payload.
type bytesTemplate struct {
	text  string
	parts []bytesPart
}

type bytesPart struct {
	lit      string
	isSlice  bool
	single   bool // [i]
	from, to *int
}

func parseBytesTemplate(s string) (bytesTemplate, error) {
	t := bytesTemplate{text: s}
	last := 0
	for _, m := range sliceRE.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > last {
			t.parts = append(t.parts, bytesPart{lit: s[last:m[0]]})
		}
		p := bytesPart{isSlice: true}
		num := func(a, b int) (*int, error) {
			if a < 0 || a == b {
				return nil, nil
			}
			n, err := strconv.Atoi(s[a:b])
			if err != nil {
				return nil, fmt.Errorf("%q: bad index %q", s, s[a:b])
			}
			return &n, nil
		}
		var err error
		if p.from, err = num(m[2], m[3]); err != nil {
			return t, err
		}
		if m[4] < 0 {
			if p.from == nil {
				return t, fmt.Errorf("%q: empty index []", s)
			}
			p.single = true
		} else if p.to, err = num(m[6], m[7]); err != nil {
			return t, err
		}
		t.parts = append(t.parts, p)
		last = m[1]
	}
	if last < len(s) {
		t.parts = append(t.parts, bytesPart{lit: s[last:]})
	}
	return t, nil
}

// eval renders the template for a payload: slices as UTF-8 text, or as lower-case hex in hex mode.
func (t bytesTemplate) eval(payload []byte, hexMode bool) (string, error) {
	out := make([]byte, 0, len(t.text)+len(payload))
	for _, p := range t.parts {
		if !p.isSlice {
			out = append(out, p.lit...)
			continue
		}
		n := len(payload)
		var chunk []byte
		if p.single {
			i := *p.from
			if i < 0 {
				i += n
			}
			if i < 0 || i >= n {
				return "", badPayload("index [%d] is outside the %d-byte payload", *p.from, n)
			}
			chunk = payload[i : i+1]
		} else {
			a, b := pyIndex(p.from, 0, n), pyIndex(p.to, n, n)
			if a < b {
				chunk = payload[a:b]
			}
		}
		if hexMode {
			out = hex.AppendEncode(out, chunk)
		} else {
			out = append(out, chunk...)
		}
	}
	return string(out), nil
}

// pyIndex resolves a Python slice bound.
func pyIndex(p *int, def, n int) int {
	if p == nil {
		return def
	}
	i := *p
	if i < 0 {
		i += n
	}
	return max(0, min(i, n))
}

// BytesConverter is the "bytes" converter: device name, profile, keys and values from slices of the raw
// payload ("[0:4]", "[4:]", "[2]"). Values are text (or hex with hexMode) converted by their type hint. The
// gateway stamps the telemetry. Safe for concurrent use.
type BytesConverter struct {
	name, profile  bytesTemplate
	nameRE         *deviceExpr // deviceNameExpressionSource "topic"
	attrs, series  []bytesDatapoint
	hexMode        bool
	profileLiteral bool
}

type bytesDatapoint struct {
	key, value bytesTemplate
	keyRE      *regexp2.Regexp // keySource topic
	typ        string
}

// NewBytesConverter compiles a bytes converter configuration.
func NewBytesConverter(c ConverterConfig) (*BytesConverter, error) {
	bc := &BytesConverter{hexMode: c.HexMode}
	var err error
	if c.DeviceInfo.NameSource == SourceTopic {
		d, err := compileConverterDeviceExpr(SourceTopic, c.DeviceInfo.NameExpression)
		if err != nil {
			return nil, fmt.Errorf("deviceInfo.deviceNameExpression: %w", err)
		}
		bc.nameRE = &d
	} else if bc.name, err = parseBytesTemplate(c.DeviceInfo.NameExpression); err != nil {
		return nil, fmt.Errorf("deviceInfo.deviceNameExpression: %w", err)
	}
	bc.profileLiteral = c.DeviceInfo.ProfileSource == SourceConstant
	if bc.profile, err = parseBytesTemplate(c.DeviceInfo.ProfileExpression); err != nil {
		return nil, fmt.Errorf("deviceInfo.deviceProfileExpression: %w", err)
	}
	for _, section := range []struct {
		name string
		in   []DatapointConfig
		out  *[]bytesDatapoint
	}{{"attributes", c.Attributes, &bc.attrs}, {"timeseries", c.Timeseries, &bc.series}} {
		for i, d := range section.in {
			k, err := parseBytesTemplate(d.Key)
			if err != nil {
				return nil, fmt.Errorf("%s[%d].key: %w", section.name, i, err)
			}
			v, err := parseBytesTemplate(d.Value)
			if err != nil {
				return nil, fmt.Errorf("%s[%d].value: %w", section.name, i, err)
			}
			dp := bytesDatapoint{key: k, value: v, typ: d.Type}
			if d.KeySource == SourceTopic {
				if dp.keyRE, err = compileRegex(d.Key); err != nil {
					return nil, fmt.Errorf("%s[%d].key: invalid regular expression %q: %w", section.name, i, d.Key, err)
				}
			}
			*section.out = append(*section.out, dp)
		}
	}
	return bc, nil
}

// Convert implements tbgateway.Converter. Errors wrap ErrBadPayload.
func (bc *BytesConverter) Convert(topic string, payload []byte) ([]tbgateway.Record, error) {
	rec := tbgateway.Record{Kind: tbgateway.KindData}
	var err error
	if bc.nameRE != nil {
		rec.Device, _, _ = bc.nameRE.eval(topic, nil)
	} else if rec.Device, err = bc.name.eval(payload, bc.hexMode); err != nil {
		return nil, fmt.Errorf("device name: %w", err)
	}
	if rec.Device == "" {
		return nil, badPayload("device name %q is empty for this payload", bc.name.text)
	}
	if bc.profileLiteral {
		rec.DeviceType = bc.profile.text
	} else if rec.DeviceType, err = bc.profile.eval(payload, bc.hexMode); err != nil {
		return nil, fmt.Errorf("device profile: %w", err)
	}
	for _, dp := range bc.attrs {
		k, v, ok, err := dp.apply(topic, payload, bc.hexMode)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if rec.Attributes == nil {
			rec.Attributes = map[string]any{}
		}
		rec.Attributes[k] = v
	}
	if len(bc.series) > 0 {
		values := map[string]any{}
		for _, dp := range bc.series {
			k, v, ok, err := dp.apply(topic, payload, bc.hexMode)
			if err != nil {
				return nil, err
			}
			if ok {
				values[k] = v
			}
		}
		if len(values) > 0 {
			rec.Telemetry = []tbgateway.Telemetry{{Values: values}}
		}
	}
	if rec.Datapoints() == 0 {
		return nil, badPayload("device %q: no configured key is in this message (or its topic)", rec.Device)
	}
	return []tbgateway.Record{rec}, nil
}

// apply evaluates one mapping; ok is false when its key is taken from the topic and the topic does not match
// (the key is skipped, as the json converter does).
func (dp *bytesDatapoint) apply(topic string, payload []byte, hexMode bool) (key string, value any, ok bool, err error) {
	if dp.keyRE != nil {
		k, found := searchLastGroup(dp.keyRE, topic)
		if !found {
			return "", nil, false, nil
		}
		key, value, err = dp.applyValue(k, payload, hexMode)
		return key, value, err == nil, err
	}
	k, err := dp.key.eval(payload, hexMode)
	if err != nil {
		return "", nil, false, fmt.Errorf("key %q: %w", dp.key.text, err)
	}
	key, value, err = dp.applyValue(k, payload, hexMode)
	return key, value, err == nil, err
}

// applyValue evaluates the value of the key k.
func (dp *bytesDatapoint) applyValue(k string, payload []byte, hexMode bool) (string, any, error) {
	s, err := dp.value.eval(payload, hexMode)
	if err != nil {
		return "", nil, fmt.Errorf("key %q: %w", k, err)
	}
	v, err := values.Cast(s, dp.typ)
	if err != nil {
		return "", nil, badPayload("key %q: %v (type %s)", k, err, dp.typ)
	}
	return k, v, nil
}
