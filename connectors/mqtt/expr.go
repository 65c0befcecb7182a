package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/dlclark/regexp2"

	tbgateway "github.com/tbgateway/tbgateway"
)

// template is a compiled "${...}" text: literal parts and JSON paths, parsed once at load time.
type template struct {
	text  string
	parts []tmplPart
}

type tmplPart struct {
	lit  string
	path *jpath // nil for a literal part
}

// parseTemplate compiles s. An unclosed "${" is an error.
func parseTemplate(s string) (template, error) {
	t := template{text: s}
	rest := s
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			if rest != "" {
				t.parts = append(t.parts, tmplPart{lit: rest})
			}
			return t, nil
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return t, fmt.Errorf("unclosed ${ in %q", s)
		}
		p, err := parsePath(rest[i+2 : i+j])
		if err != nil {
			return t, fmt.Errorf("%q: %w", s, err)
		}
		t.parts = append(t.parts, tmplPart{path: p})
		rest = rest[i+j+1:]
	}
}

// single reports whether the template is exactly one expression, so its value keeps its JSON type.
func (t template) single() bool { return len(t.parts) == 1 && t.parts[0].path != nil }

// hasExpr reports whether the template holds any ${...}.
func (t template) hasExpr() bool {
	for _, p := range t.parts {
		if p.path != nil {
			return true
		}
	}
	return false
}

// eval returns the template's value for a payload: the typed value of a single expression, otherwise the text
// with every expression replaced. ok is false when an expression finds nothing; missing names it.
func (t template) eval(body any) (v any, missing string, ok bool) {
	if t.single() {
		v, ok := t.parts[0].path.get(body)
		return v, t.parts[0].path.raw, ok
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.path == nil {
			b.WriteString(p.lit)
			continue
		}
		v, ok := p.path.get(body)
		if !ok {
			return nil, p.path.raw, false
		}
		b.WriteString(text(v))
	}
	return b.String(), "", true
}

// render replaces each ${name} by vars(name); names vars does not know are left as they are.
func (t template) render(vars func(name string) (string, bool)) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.path == nil {
			b.WriteString(p.lit)
			continue
		}
		if s, ok := vars(p.path.raw); ok {
			b.WriteString(s)
		} else {
			b.WriteString("${" + p.path.raw + "}")
		}
	}
	return b.String()
}

// jpath is a compiled JSON path: dotted keys with optional [index] steps ("sensor.values[0]"). The whole text
// is first tried as one top-level key, so keys holding spaces or dots work as in the Python gateway.
type jpath struct {
	raw   string
	steps []pathStep
}

type pathStep struct {
	key   string
	index int
	isIdx bool
}

func parsePath(raw string) (*jpath, error) {
	p := &jpath{raw: raw}
	s := strings.TrimSpace(raw)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "$"), ".")
	if s == "" {
		return nil, errors.New("empty ${} expression")
	}
	for _, seg := range strings.Split(s, ".") {
		key := seg
		var idx []int
		for {
			open := strings.IndexByte(key, '[')
			if open < 0 {
				break
			}
			end := strings.IndexByte(key[open:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ in ${%s}", raw)
			}
			n, err := strconv.Atoi(strings.TrimSpace(key[open+1 : open+end]))
			if err != nil {
				return nil, fmt.Errorf("index %q in ${%s} is not an integer", key[open+1:open+end], raw)
			}
			idx = append(idx, n)
			key = key[:open] + key[open+end+1:]
		}
		if key != "" {
			p.steps = append(p.steps, pathStep{key: key})
		}
		for _, n := range idx {
			p.steps = append(p.steps, pathStep{index: n, isIdx: true})
		}
	}
	return p, nil
}

// get looks the path up in a decoded JSON body. A JSON null counts as not found.
func (p *jpath) get(body any) (any, bool) {
	if m, ok := body.(map[string]any); ok {
		if v, ok := m[p.raw]; ok {
			return v, v != nil
		}
	}
	cur := body
	for _, st := range p.steps {
		switch x := cur.(type) {
		case map[string]any:
			if st.isIdx {
				return nil, false
			}
			cur = x[st.key]
		case []any:
			if !st.isIdx {
				return nil, false
			}
			i := st.index
			if i < 0 {
				i += len(x)
			}
			if i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, cur != nil
}

// text renders a decoded JSON value as the Python gateway's templates do, but with JSON spellings: strings as
// they are, numbers as written, true/false, objects and lists as compact JSON.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return "null"
	case tbgateway.RawJSON:
		return string(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// valueTypes are the type hints of attributes and time series.
var valueTypes = map[string]struct{}{
	"string": {}, "str": {}, "raw": {}, "int": {}, "integer": {}, "long": {}, "double": {}, "float": {},
	"bool": {}, "boolean": {}, "json": {}, "auto": {},
}

const valueTypeNames = "string, int, integer, long, double, float, bool, boolean, raw, json, auto"

// cast converts a decoded JSON value to a record value of the type hint: string/str/raw → string;
// int/integer/long → int64 (from a number or numeric text, truncated as Python's int(float(x)));
// double/float → float64; bool/boolean → bool (true/false, 1/0, yes/no, on/off; numbers are true when not 0);
// json → the value itself (objects and lists as JSON); auto → the value's own type.
func cast(v any, typ string) (any, error) {
	switch typ {
	case "string", "str", "raw":
		return text(v), nil
	case "int", "integer", "long":
		f, isInt, i, err := number(v)
		if err != nil {
			return nil, err
		}
		if isInt {
			return i, nil
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) >= 1<<63 {
			return nil, fmt.Errorf("%s is out of the integer range", text(v))
		}
		return int64(f), nil
	case "double", "float":
		f, isInt, i, err := number(v)
		if err != nil {
			return nil, err
		}
		if isInt {
			return float64(i), nil
		}
		return f, nil
	case "bool", "boolean":
		switch x := v.(type) {
		case bool:
			return x, nil
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return nil, fmt.Errorf("%s is not a boolean", x)
			}
			return f != 0, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true", "1", "yes", "on":
				return true, nil
			case "false", "0", "no", "off":
				return false, nil
			}
		}
		return nil, fmt.Errorf("%s is not a boolean", describe(v))
	}
	return natural(v), nil
}

// number reads a JSON number or numeric text.
func number(v any) (f float64, isInt bool, i int64, err error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	case bool:
		if x {
			return 1, true, 1, nil
		}
		return 0, true, 0, nil
	default:
		return 0, false, 0, fmt.Errorf("%s is not a number", describe(v))
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return float64(i), true, i, nil
	}
	f, err = strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, 0, fmt.Errorf("%s is not a number", describe(v))
	}
	return f, false, 0, nil
}

// natural converts a decoded JSON value to the record value of its own type.
func natural(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case map[string]any, []any:
		return tbgateway.RawJSON(text(x))
	}
	return v
}

// parseTS reads a timestamp from a payload value: a number (milliseconds since the epoch, as the Python gateway
// takes "ts"), numeric text, or a date text (RFC 3339 or "2006-01-02 15:04:05[.000]", UTC when no zone).
func parseTS(v any) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil && i > 0 {
			return i, nil
		}
		if f, err := x.Float64(); err == nil && f >= 1 && f < 1<<62 {
			return int64(f), nil
		}
	case string:
		s := strings.TrimSpace(x)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil && i > 0 {
			return i, nil
		}
		for _, layout := range tsLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UnixMilli(), nil
			}
		}
	}
	return 0, fmt.Errorf("timestamp %s is neither milliseconds since the epoch nor a date", describe(v))
}

var tsLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999", "2006-01-02"}

// compileRegex compiles a Python regular expression (lookbehind and lookahead included) with regexp2, once.
// Python's named groups (?P<name>...) and back references (?P=name) are rewritten to .NET's spelling.
func compileRegex(expr string) (*regexp2.Regexp, error) {
	e := strings.ReplaceAll(expr, "(?P<", "(?<")
	for {
		i := strings.Index(e, "(?P=")
		if i < 0 {
			break
		}
		j := strings.IndexByte(e[i:], ')')
		if j < 0 {
			break
		}
		e = e[:i] + `\k<` + e[i+4:i+j] + ">" + e[i+j+1:]
	}
	re, err := regexp2.Compile(e, regexp2.None)
	if err != nil {
		return nil, err
	}
	re.MatchTimeout = time.Second
	return re, nil
}

// search returns the first match of re in s (Python's re.search(...).group(0)).
func search(re *regexp2.Regexp, s string) (string, bool) {
	m, err := re.FindStringMatch(s)
	if err != nil || m == nil {
		return "", false
	}
	return m.String(), true
}

// matchStart reports whether re matches at the start of s (Python's re.match).
func matchStart(re *regexp2.Regexp, s string) bool {
	m, err := re.FindStringMatch(s)
	return err == nil && m != nil && m.Index == 0
}
