package mqtt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dlclark/regexp2"

	"github.com/tbgateway/tbgateway/internal/template"
	"github.com/tbgateway/tbgateway/internal/values"
)

// tmpl is a "${...}" text whose expressions are JSON paths into the payload (the MQTT meaning of an expression),
// parsed once at load time by the kit's template parser.
type tmpl = template.Template[*jpath]

// parseTemplate compiles s; an unclosed "${" or a bad path is an error.
func parseTemplate(s string) (tmpl, error) { return template.Parse(s, parsePath) }

// evalJSON returns the template's value for a payload: the typed value of a single expression, otherwise the
// text with every expression replaced. ok is false when an expression finds nothing; missing names it.
func evalJSON(t tmpl, body any) (v any, missing string, ok bool) {
	if t.Single() {
		p := t.Parts[0].Expr
		v, ok := p.get(body)
		return v, p.raw, ok
	}
	s, missing, ok := t.Eval(func(p *jpath) (string, bool) {
		v, ok := p.get(body)
		return text(v), ok
	})
	if !ok {
		return nil, missing, false
	}
	return s, "", true
}

// render replaces each ${name} by vars(name); names vars does not know are left as they are.
func render(t tmpl, vars func(name string) (string, bool)) string {
	return t.Render(func(p *jpath) (string, bool) { return vars(p.raw) })
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

// text renders a value as templates insert it (the kit's one rule).
func text(v any) string { return values.Text(v) }

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

// searchLastGroup is what the Python gateway's json and bytes converters take from a topic
// (Utils.get_value_from_topic): in the first match of re in s, the capturing group that closed last (Python's
// lastindex), or the whole match when no group took part.
func searchLastGroup(re *regexp2.Regexp, s string) (string, bool) {
	m, err := re.FindStringMatch(s)
	if err != nil || m == nil {
		return "", false
	}
	best := -1
	var bestStart, bestEnd int
	for i, g := range m.Groups() {
		if i == 0 || len(g.Captures) == 0 {
			continue
		}
		start, end := g.Index, g.Index+g.Length
		// The group that closes last ends last; of groups ending together the outermost (earliest start, then
		// lowest number) closes last.
		if best < 0 || end > bestEnd || (end == bestEnd && start < bestStart) {
			best, bestStart, bestEnd = i, start, end
		}
	}
	if best < 0 {
		return m.String(), true
	}
	return m.Groups()[best].String(), true
}

// matchStart reports whether re matches at the start of s (Python's re.match).
func matchStart(re *regexp2.Regexp, s string) bool {
	m, err := re.FindStringMatch(s)
	return err == nil && m != nil && m.Index == 0
}
