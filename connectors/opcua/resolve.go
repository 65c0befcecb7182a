package opcua

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// child is one hierarchical reference target of a node.
type child struct {
	ns   uint16
	name string
	id   *ua.NodeID
}

// pathCache keeps the browsed children of nodes, so that every browse path step costs one Browse per parent node
// for the whole connector, once per ttl (server.scanPeriodInMillis), across reconnects.
type pathCache struct {
	ttl time.Duration

	mu       sync.Mutex
	built    time.Time
	children map[string][]child
}

func newPathCache(ttl time.Duration) *pathCache {
	return &pathCache{ttl: ttl, children: map[string][]child{}}
}

// get returns the cached children of a node, clearing the cache when it is older than ttl.
func (p *pathCache) get(node string) ([]child, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ttl > 0 && !p.built.IsZero() && time.Since(p.built) > p.ttl {
		p.children = map[string][]child{}
		p.built = time.Time{}
	}
	c, ok := p.children[node]
	return c, ok
}

// clear forgets every browsed node, so that the next resolution browses the server again.
func (p *pathCache) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.children = map[string][]child{}
	p.built = time.Time{}
}

// snapshot returns a copy of the browsed nodes' children by node id.
func (p *pathCache) snapshot() map[string][]child {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.children)
}

func (p *pathCache) put(node string, kids []child) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.built.IsZero() {
		p.built = time.Now()
	}
	p.children[node] = kids
}

// resolver turns node references into node ids over one client.
type resolver struct {
	c     *opcua.Client
	cache *pathCache
}

var (
	rootFolder    = ua.NewNumericNodeID(0, id.RootFolder)
	objectsFolder = ua.NewNumericNodeID(0, id.ObjectsFolder)
)

// resolve returns the node id of ref; relative paths start at base (the device node). Each step takes the first
// child with the step's browse name.
func (r *resolver) resolve(ctx context.Context, ref nodeRef, base *ua.NodeID) (*ua.NodeID, error) {
	if ref.id != nil {
		return ref.id, nil
	}
	node, steps := origin(ref, base)
	for _, step := range steps {
		kids, err := r.children(ctx, node)
		if err != nil {
			return nil, fmt.Errorf("browse path %s: %w", ref, err)
		}
		var next *ua.NodeID
		for _, k := range kids {
			if step.matches(k) {
				next = k.id
				break
			}
		}
		if next == nil {
			return nil, fmt.Errorf("browse path %s: no node %q under %s", ref, step, node)
		}
		node = next
	}
	return node, nil
}

// resolveAll returns every node ref reaches: its node id, or each node at the end of the browse path when every
// step follows all children with the step's browse name (browse names need not be unique, so one
// deviceNodePattern can name several device nodes, as in the Python gateway). A node reached by two references
// is returned once; order is browse order. The error says where no node matched.
func (r *resolver) resolveAll(ctx context.Context, ref nodeRef, base *ua.NodeID) ([]*ua.NodeID, error) {
	if ref.id != nil {
		return []*ua.NodeID{ref.id}, nil
	}
	start, steps := origin(ref, base)
	level := []*ua.NodeID{start}
	for _, step := range steps {
		var next []*ua.NodeID
		seen := map[string]bool{}
		for _, node := range level {
			kids, err := r.children(ctx, node)
			if err != nil {
				return nil, fmt.Errorf("browse path %s: %w", ref, err)
			}
			for _, k := range kids {
				if key := k.id.String(); step.matches(k) && !seen[key] {
					seen[key] = true
					next = append(next, k.id)
				}
			}
		}
		if len(next) == 0 {
			return nil, fmt.Errorf("browse path %s: no node %q under %s", ref, step, joinIDs(level))
		}
		level = next
	}
	return level, nil
}

// origin returns the node a browse path starts from and its steps after that node.
func origin(ref nodeRef, base *ua.NodeID) (*ua.NodeID, []pathElem) {
	switch {
	case ref.absolute:
		return rootFolder, ref.path[1:]
	case base == nil:
		// A device pattern without "Root" is taken from the Objects folder, as the Python gateway does.
		return objectsFolder, ref.path
	}
	return base, ref.path
}

// matches reports whether a child has the step's browse name (and namespace, when the step names one).
func (e pathElem) matches(k child) bool {
	return k.name == e.name && (e.ns < 0 || int(k.ns) == e.ns)
}

func joinIDs(ids []*ua.NodeID) string {
	parts := make([]string, len(ids))
	for i, n := range ids {
		parts[i] = n.String()
	}
	return strings.Join(parts, ", ")
}

// children browses the hierarchical references of node (forward, subtypes included), following continuation
// points, or returns them from the cache.
func (r *resolver) children(ctx context.Context, node *ua.NodeID) ([]child, error) {
	key := node.String()
	if kids, ok := r.cache.get(key); ok {
		return kids, nil
	}
	res, err := r.c.Browse(ctx, &ua.BrowseRequest{
		View:                          &ua.ViewDescription{ViewID: ua.NewTwoByteNodeID(0)},
		RequestedMaxReferencesPerNode: 0,
		NodesToBrowse: []*ua.BrowseDescription{{
			NodeID:          node,
			BrowseDirection: ua.BrowseDirectionForward,
			ReferenceTypeID: ua.NewNumericNodeID(0, id.HierarchicalReferences),
			IncludeSubtypes: true,
			ResultMask:      uint32(ua.BrowseResultMaskBrowseName),
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("browse %s: %w", node, err)
	}
	if len(res.Results) != 1 {
		return nil, fmt.Errorf("browse %s: %d results", node, len(res.Results))
	}
	result := res.Results[0]
	var kids []child
	for {
		if result.StatusCode != ua.StatusOK {
			return nil, fmt.Errorf("browse %s: %w", node, result.StatusCode)
		}
		for _, ref := range result.References {
			if ref.NodeID == nil || ref.BrowseName == nil {
				continue
			}
			kids = append(kids, child{ns: ref.BrowseName.NamespaceIndex, name: ref.BrowseName.Name, id: ref.NodeID.NodeID})
		}
		if len(result.ContinuationPoint) == 0 {
			break
		}
		next, err := r.c.BrowseNext(ctx, &ua.BrowseNextRequest{ContinuationPoints: [][]byte{result.ContinuationPoint}})
		if err != nil {
			return nil, fmt.Errorf("browse next %s: %w", node, err)
		}
		if len(next.Results) != 1 {
			return nil, fmt.Errorf("browse next %s: %d results", node, len(next.Results))
		}
		result = next.Results[0]
	}
	r.cache.put(key, kids)
	return kids, nil
}

// readAttr reads one attribute of many nodes in batches of at most batch nodes per request (the server's
// MaxNodesPerRead), returning one DataValue per node in order.
func readAttr(ctx context.Context, c *opcua.Client, nodes []*ua.NodeID, attr ua.AttributeID, batch int) ([]*ua.DataValue, error) {
	out := make([]*ua.DataValue, 0, len(nodes))
	for start := 0; start < len(nodes); start += batch {
		end := min(start+batch, len(nodes))
		req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnBoth, NodesToRead: make([]*ua.ReadValueID, 0, end-start)}
		for _, n := range nodes[start:end] {
			req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: n, AttributeID: attr})
		}
		res, err := c.Read(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("read %d nodes: %w", end-start, err)
		}
		if len(res.Results) != end-start {
			return nil, fmt.Errorf("read %d nodes: server returned %d results", end-start, len(res.Results))
		}
		out = append(out, res.Results...)
	}
	return out, nil
}
