package config

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/tbgateway/tbgateway/internal/confjson"
)

// The generic tree both formats decode into: map[string]any, []any, string, bool, json.Number, nil (the tree
// confjson reads). Decoding walks this tree with key paths, so JSON and YAML get the same error messages.

// parseJSON decodes data into the generic tree. Syntax errors name the file, line and column.
func parseJSON(file string, data []byte) (any, error) { return confjson.Parse(file, data) }

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlLimits bound the tree built from YAML, whose aliases can otherwise expand exponentially.
const (
	yamlMaxDepth = 200
	yamlMaxNodes = 1 << 20
)

// parseYAML decodes data into the generic tree (same shapes as parseJSON). Errors name the file and line.
func parseYAML(file string, data []byte) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := err.Error()
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &SyntaxError{File: file, Format: "YAML", Line: line, Msg: m[2]}
		}
		return nil, &SyntaxError{File: file, Format: "YAML", Msg: msg}
	}
	c := yamlConverter{file: file}
	return c.convert(&doc, 0)
}

type yamlConverter struct {
	file  string
	nodes int
}

func (c *yamlConverter) fail(n *yaml.Node, msg string) error {
	return &SyntaxError{File: c.file, Format: "YAML", Line: n.Line, Column: n.Column, Msg: msg}
}

func (c *yamlConverter) convert(n *yaml.Node, depth int) (any, error) {
	c.nodes++
	if depth > yamlMaxDepth || c.nodes > yamlMaxNodes {
		return nil, c.fail(n, "document too deeply nested or too large")
	}
	switch n.Kind {
	case 0:
		return nil, nil // empty document
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.convert(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, c.fail(n, "unknown alias")
		}
		return c.convert(n.Alias, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := c.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		return c.mapping(n, depth)
	case yaml.ScalarNode:
		return c.scalar(n)
	}
	return nil, c.fail(n, "unsupported YAML node")
}

func (c *yamlConverter) mapping(n *yaml.Node, depth int) (any, error) {
	out := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, vn := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, c.fail(k, "mapping keys must be strings")
		}
		if k.Value == "<<" && k.Tag == "!!merge" {
			merged, err := c.convert(vn, depth+1)
			if err != nil {
				return nil, err
			}
			m, ok := merged.(map[string]any)
			if !ok {
				return nil, c.fail(vn, "merge key << needs a mapping")
			}
			for mk, mv := range m {
				if _, set := out[mk]; !set {
					out[mk] = mv
				}
			}
			continue
		}
		v, err := c.convert(vn, depth+1)
		if err != nil {
			return nil, err
		}
		out[k.Value] = v
	}
	return out, nil
}

func (c *yamlConverter) scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, c.fail(n, err.Error())
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return json.Number(strconv.FormatInt(i, 10)), nil
		}
		var u uint64
		if err := n.Decode(&u); err == nil {
			return json.Number(strconv.FormatUint(u, 10)), nil
		}
		return nil, c.fail(n, "integer out of range: "+n.Value)
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, c.fail(n, err.Error())
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, c.fail(n, n.Value+" has no JSON equivalent")
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	}
	// !!str, !!timestamp, !!binary and custom tags keep their text, as JSON would need quotes for them anyway.
	return n.Value, nil
}
