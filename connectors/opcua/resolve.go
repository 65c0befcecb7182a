package opcua

import (
	"context"
	"fmt"
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

var rootFolder = ua.NewNumericNodeID(0, id.RootFolder)

// resolve returns the node id of ref; relative paths start at base (the device node).
func (r *resolver) resolve(ctx context.Context, ref nodeRef, base *ua.NodeID) (*ua.NodeID, error) {
	if ref.id != nil {
		return ref.id, nil
	}
	node, steps := base, ref.path
	if ref.absolute {
		node, steps = rootFolder, ref.path[1:]
	} else if base == nil {
		// A device pattern without "Root" is taken from the Objects folder, as the Python gateway does.
		node = ua.NewNumericNodeID(0, id.ObjectsFolder)
	}
	for _, step := range steps {
		kids, err := r.children(ctx, node)
		if err != nil {
			return nil, fmt.Errorf("browse path %s: %w", ref, err)
		}
		var next *ua.NodeID
		for _, k := range kids {
			if k.name == step.name && (step.ns < 0 || int(k.ns) == step.ns) {
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
