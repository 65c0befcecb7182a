package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
)

// PatchJSON returns doc, a JSON document, edited so that it holds the value of want (also JSON), changing as few
// bytes as it can: a value equal in both (compared decoded, numbers by their text) keeps its bytes; an object
// keeps its members' order, spacing and unknown keys, loses the members want lacks and gets the members only want
// has appended, in want's order; a list keeps the elements found in want, matching an object element first by
// equal value, then by its "name", then by position. New values are indented like the document (its first
// indented line gives the unit; a document on one line stays compact) and use its line ending. Text around the
// top-level value is kept.
func PatchJSON(doc, want []byte) ([]byte, error) {
	if !json.Valid(doc) {
		return nil, errors.New("the file does not hold valid JSON")
	}
	if !json.Valid(want) {
		return nil, errors.New("the new content is not valid JSON")
	}
	p := patcher{doc: doc, want: want, unit: indentUnit(doc), crlf: bytes.Contains(doc, []byte("\r\n"))}
	old, wn := parseSpan(doc), parseSpan(want)
	var out bytes.Buffer
	out.Write(doc[:old.start])
	out.WriteString(p.patch(old, wn))
	out.Write(doc[old.end:])
	return out.Bytes(), nil
}

// jnode is one JSON value of a document: its byte span and, for objects and lists, its parts.
type jnode struct {
	start, end int
	kind       byte // '{', '[' or 0 for a scalar
	members    []jmember
	elems      []*jnode
}

// jmember is an object member: the key's text starts at keyStart; colon is the text from the key to the value.
type jmember struct {
	key      string
	keyStart int
	colon    [2]int
	val      *jnode
}

// parseSpan parses valid JSON into spans.
func parseSpan(b []byte) *jnode {
	i := skipSpace(b, 0)
	n, _ := parseValue(b, i)
	return n
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// parseValue parses the value starting at i (valid JSON) and returns it and the offset after it.
func parseValue(b []byte, i int) (*jnode, int) {
	n := &jnode{start: i}
	switch b[i] {
	case '{':
		n.kind = '{'
		i = skipSpace(b, i+1)
		for b[i] != '}' {
			ks := i
			ke := scanString(b, i)
			var key string
			_ = json.Unmarshal(b[ks:ke], &key)
			vs := skipSpace(b, skipSpace(b, ke)+1)
			v, next := parseValue(b, vs)
			n.members = append(n.members, jmember{key: key, keyStart: ks, colon: [2]int{ke, vs}, val: v})
			i = skipSpace(b, next)
			if b[i] == ',' {
				i = skipSpace(b, i+1)
			}
		}
		n.end = i + 1
	case '[':
		n.kind = '['
		i = skipSpace(b, i+1)
		for b[i] != ']' {
			v, next := parseValue(b, i)
			n.elems = append(n.elems, v)
			i = skipSpace(b, next)
			if b[i] == ',' {
				i = skipSpace(b, i+1)
			}
		}
		n.end = i + 1
	case '"':
		n.end = scanString(b, i)
	default:
		j := i
		for j < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[j])) {
			j++
		}
		n.end = j
	}
	return n, n.end
}

// scanString returns the offset after the string starting at i.
func scanString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// indentUnit is the leading white space of the document's first indented line, "" for a one-line document.
func indentUnit(doc []byte) string {
	for line := range bytes.SplitSeq(doc, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		trimmed := bytes.TrimLeft(line, " \t")
		if len(trimmed) > 0 && len(trimmed) < len(line) {
			return string(line[:len(line)-len(trimmed)])
		}
	}
	if bytes.Contains(bytes.TrimSpace(doc), []byte("\n")) {
		return "  "
	}
	return ""
}

type patcher struct {
	doc, want []byte
	unit      string
	crlf      bool
}

// decoded is a span's value decoded for comparison (numbers as their text).
func decoded(b []byte, n *jnode) any {
	d := json.NewDecoder(bytes.NewReader(b[n.start:n.end]))
	d.UseNumber()
	var v any
	_ = d.Decode(&v)
	return v
}

// patch returns the new text of the old value o so that it holds the wanted value w.
func (p *patcher) patch(o, w *jnode) string {
	if reflect.DeepEqual(decoded(p.doc, o), decoded(p.want, w)) {
		return string(p.doc[o.start:o.end])
	}
	switch {
	case o.kind == '{' && w.kind == '{':
		return p.patchObject(o, w)
	case o.kind == '[' && w.kind == '[':
		return p.patchList(o, w)
	}
	return p.render(w, p.lineIndent(o.start))
}

// render returns the wanted value w indented for a value on a line indented by prefix.
func (p *patcher) render(w *jnode, prefix string) string {
	var out bytes.Buffer
	src := p.want[w.start:w.end]
	if p.unit == "" {
		_ = json.Compact(&out, src)
	} else {
		_ = json.Indent(&out, src, prefix, p.unit)
	}
	s := out.String()
	if p.crlf {
		s = strings.ReplaceAll(s, "\n", "\r\n")
	}
	return s
}

// lineIndent is the leading white space of the line holding offset i.
func (p *patcher) lineIndent(i int) string {
	ls := bytes.LastIndexByte(p.doc[:i], '\n') + 1
	j := ls
	for j < i && (p.doc[j] == ' ' || p.doc[j] == '\t') {
		j++
	}
	return string(p.doc[ls:j])
}

// layout is how a container's parts are laid out in the old document: text before the first part, between
// parts (after each old part) and after the last; the separator and indentation for parts added.
type layout struct {
	open, close string
	after       []string
	sep, indent string
}

// layoutOf reads the layout of the container o whose parts start at starts and end at ends.
func (p *patcher) layoutOf(o *jnode, starts, ends []int) layout {
	base := p.lineIndent(o.start)
	nl := "\n"
	if p.crlf {
		nl = "\r\n"
	}
	l := layout{indent: base + p.unit, sep: "," + nl + base + p.unit}
	l.open, l.close = string(p.doc[o.start])+nl+l.indent, nl+base+string(p.doc[o.end-1])
	if p.unit == "" {
		l.sep, l.open, l.close = ",", string(p.doc[o.start]), string(p.doc[o.end-1])
	}
	if len(starts) == 0 {
		return l
	}
	l.open = string(p.doc[o.start:starts[0]])
	l.close = string(p.doc[ends[len(ends)-1]:o.end])
	for i := range starts {
		if i+1 < len(starts) {
			l.after = append(l.after, string(p.doc[ends[i]:starts[i+1]]))
		}
	}
	if len(l.after) > 0 {
		l.sep = l.after[0]
	} else if !strings.Contains(l.open, "\n") && p.unit != "" {
		l.sep = ", "
	}
	if strings.Contains(l.open, "\n") {
		l.indent = p.lineIndent(starts[0])
	}
	return l
}

// part is one member or element of the new text, and the old part it comes from (-1: new).
type part struct {
	text string
	old  int
}

// join lays parts out: an old part keeps the separator that followed it when another part follows.
func (l layout) join(parts []part) string {
	if len(parts) == 0 {
		return l.open[:1] + l.close[len(l.close)-1:]
	}
	var b strings.Builder
	b.WriteString(l.open)
	for i, pt := range parts {
		if i > 0 {
			prev := parts[i-1].old
			if prev >= 0 && prev < len(l.after) {
				b.WriteString(l.after[prev])
			} else {
				b.WriteString(l.sep)
			}
		}
		b.WriteString(pt.text)
	}
	b.WriteString(l.close)
	return b.String()
}

func (p *patcher) patchObject(o, w *jnode) string {
	var starts, ends []int
	for _, m := range o.members {
		starts, ends = append(starts, m.keyStart), append(ends, m.val.end)
	}
	l := p.layoutOf(o, starts, ends)
	colon := ": "
	if len(o.members) > 0 {
		colon = string(p.doc[o.members[0].colon[0]:o.members[0].colon[1]])
	} else if p.unit == "" {
		colon = ":"
	}
	var parts []part
	for i, m := range o.members {
		k := slices.IndexFunc(w.members, func(wm jmember) bool { return wm.key == m.key })
		if k < 0 {
			continue
		}
		head := string(p.doc[m.keyStart:m.colon[1]])
		parts = append(parts, part{text: head + p.patch(m.val, w.members[k].val), old: i})
	}
	for _, wm := range w.members {
		if slices.ContainsFunc(o.members, func(m jmember) bool { return m.key == wm.key }) {
			continue
		}
		key, _ := json.Marshal(wm.key)
		parts = append(parts, part{text: string(key) + colon + p.render(wm.val, l.indent), old: -1})
	}
	return l.join(parts)
}

func (p *patcher) patchList(o, w *jnode) string {
	var starts, ends []int
	for _, e := range o.elems {
		starts, ends = append(starts, e.start), append(ends, e.end)
	}
	l := p.layoutOf(o, starts, ends)
	used := make([]bool, len(o.elems))
	olds := make([]any, len(o.elems))
	for i, e := range o.elems {
		olds[i] = decoded(p.doc, e)
	}
	match := func(ok func(i int) bool) int {
		for i := range o.elems {
			if !used[i] && ok(i) {
				used[i] = true
				return i
			}
		}
		return -1
	}
	var parts []part
	for wi, we := range w.elems {
		wv := decoded(p.want, we)
		i := match(func(i int) bool { return reflect.DeepEqual(olds[i], wv) })
		if name, ok := nameOf(wv); i < 0 && ok {
			i = match(func(i int) bool { n, ok := nameOf(olds[i]); return ok && n == name })
		}
		if i < 0 && wi < len(o.elems) && !used[wi] && o.elems[wi].kind == we.kind {
			i, used[wi] = wi, true
		}
		if i < 0 {
			parts = append(parts, part{text: p.render(we, l.indent), old: -1})
			continue
		}
		parts = append(parts, part{text: p.patch(o.elems[i], we), old: i})
	}
	return l.join(parts)
}

// nameOf returns an object's "name" string.
func nameOf(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	n, ok := m["name"].(string)
	return n, ok
}
