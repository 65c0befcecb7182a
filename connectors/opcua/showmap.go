package opcua

import (
	"slices"
	"strings"
)

// logAddressSpace logs, at info level, every child of every node browsed so far (the browse cache) by its path
// from Root, names joined with "." as in the Python connector's showMap "Checking path" lines, with its node id.
// Runs once per connection when server.showMap is set. A browsed node no other browsed node leads to (a device
// node given by node id) starts its own tree, named by its node id.
func (c *Connector) logAddressSpace() {
	tree := c.cache.snapshot()
	reached := map[string]bool{}
	for _, kids := range tree {
		for _, k := range kids {
			reached[k.id.String()] = true
		}
	}
	roots := make([]string, 0, len(tree))
	for n := range tree {
		roots = append(roots, n)
	}
	// Trees from Root first, then from Objects, then the others in node id order; nodes only reachable through a
	// cycle come last.
	rank := func(n string) int {
		switch {
		case n == rootFolder.String():
			return 0
		case n == objectsFolder.String():
			return 1
		case !reached[n]:
			return 2
		}
		return 3
	}
	slices.SortFunc(roots, func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	visited := map[string]bool{}
	lines := 0
	var walk func(node, path string)
	walk = func(node, path string) {
		if visited[node] {
			return
		}
		visited[node] = true
		for _, k := range tree[node] {
			p := path + "." + k.name
			c.log.Info("address space", "path", p, "node", k.id.String())
			lines++
			walk(k.id.String(), p)
		}
	}
	for _, r := range roots {
		if rank(r) < 3 || !visited[r] {
			walk(r, label(r))
		}
	}
	c.log.Info("address space browsed (showMap)", "nodes", lines, "browsed", len(tree))
}

// label names the start of a tree: Root and Objects by their paths, any other node by its id.
func label(node string) string {
	switch node {
	case rootFolder.String():
		return "Root"
	case objectsFolder.String():
		return "Root.Objects"
	}
	return node
}
