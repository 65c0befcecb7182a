package opcua

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/gopcua/opcua/ua"
	"github.com/tbgateway/tbgateway/internal/template"
)

// nodeIDForm matches the text forms of a node id the Python configs use: ns=<n>;{i,s,g,b}=<id> or without ns.
var nodeIDForm = regexp.MustCompile(`^(ns=[^;]*;)?[isgb]=`)

// pathElem is one step of a browse path: a browse name, with its namespace index when written as "n:Name".
type pathElem struct {
	ns   int // -1: any namespace
	name string
}

func (e pathElem) String() string {
	if e.ns >= 0 {
		return strconv.Itoa(e.ns) + ":" + e.name
	}
	return e.name
}

// nodeRef is a parsed node reference: a node id, or a browse path that is absolute (from Root) or relative to the
// device node.
type nodeRef struct {
	id       *ua.NodeID
	path     []pathElem
	absolute bool
}

// String returns the reference as written in a config (path steps joined by `\.`).
func (r nodeRef) String() string {
	if r.id != nil {
		return r.id.String()
	}
	parts := make([]string, len(r.path))
	for i, e := range r.path {
		parts[i] = e.String()
	}
	return strings.Join(parts, `\.`)
}

// parseNodeRef parses a node id ("ns=2;i=5", "i=85", "ns=4;b=...", "ns=5;g=...") or a browse path
// ("Root\.Objects\.Dev", "Child\.Leaf", "2:Dev"). Paths are split on `\.` as in the Python gateway; a path whose
// first step is "Root" is absolute, any other is relative.
func parseNodeRef(text string) (nodeRef, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return nodeRef{}, errors.New("empty node reference")
	}
	if nodeIDForm.MatchString(s) {
		id, err := ua.ParseNodeID(s)
		if err != nil {
			return nodeRef{}, fmt.Errorf("node id %q: %w", s, err)
		}
		return nodeRef{id: id}, nil
	}
	var ref nodeRef
	for i, step := range strings.Split(s, `\.`) {
		step = strings.TrimSpace(step)
		if step == "" {
			return nodeRef{}, fmt.Errorf("browse path %q: empty step %d", s, i)
		}
		el := pathElem{ns: -1, name: step}
		if j := strings.IndexByte(step, ':'); j > 0 {
			if n, err := strconv.Atoi(step[:j]); err == nil && n >= 0 && n <= 0xffff {
				el = pathElem{ns: n, name: step[j+1:]}
			}
		}
		ref.path = append(ref.path, el)
	}
	ref.absolute = ref.path[0].name == "Root"
	return ref, nil
}

// nodeTemplate is text with ${node} references (browse paths or node ids), parsed once at load time with the
// kit's template parser: "Device ${Root\.Objects\.Dev\.Serial} at ${ns=2;i=3}"; text without ${} is literal.
type nodeTemplate = template.Template[nodeRef]

func parseTemplate(text string) (nodeTemplate, error) { return template.Parse(text, parseNodeRef) }

// fill joins a template's literal text with the rendered values of its references, in order.
func fill(t nodeTemplate, vals []string) string {
	i := 0
	s, _, _ := t.Eval(func(nodeRef) (string, bool) {
		i++
		return vals[i-1], true
	})
	return s
}

// parseNodeExpr parses a node written either bare or as "${...}" (attribute updates, RPC get/set).
func parseNodeExpr(text string) (nodeRef, error) {
	s := strings.TrimSpace(text)
	if t, err := parseTemplate(s); err == nil && t.Single() {
		return t.Parts[0].Expr, nil
	}
	return parseNodeRef(s)
}
