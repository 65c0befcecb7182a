package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
)

// ConnectorApplier changes the running connectors; *Gateway implements it (docs/remote-configuration.md).
// Remote configuration hands it the connector changes ThingsBoard pushes.
type ConnectorApplier interface {
	// ApplyConnector creates, replaces or restarts one connector from its file bytes, validating first; an
	// error leaves what runs untouched and is the reason reported back.
	ApplyConnector(ctx context.Context, c config.Connector, raw []byte) error
	// SetActiveConnectors stops the connectors not listed and starts listed ones whose config is known.
	SetActiveConnectors(ctx context.Context, names []string) error
}

// remoteApplyTimeout bounds one remote change (a connector stopped and started again).
const remoteApplyTimeout = 2 * time.Minute

// remoteSharedKeys are the gateway-level shared attributes; every other key names a connector.
var remoteSharedKeys = []string{attrRemoteLogLevel, attrGeneral, attrStorage, attrGRPC, attrLogs, attrActiveConnectors}

// remoteState is what remote configuration remembers between updates; the zero value is ready.
type remoteState struct {
	applyMu sync.Mutex // serialises remote changes: one update is handled at a time
	mu      sync.Mutex // guards the fields below
	// applied is the ts of the remote update each connector was last installed from.
	applied     map[string]int64
	appliedJSON map[string]string // the canonical JSON of that update
	// seen is the canonical JSON of the last value handled per shared key: the same value again (after a
	// reconnect) is not handled twice.
	seen map[string]string

	cancel  context.CancelFunc // stops the previous connection's shared-attribute request
	offOnce sync.Once          // "remote configuration is off" is logged at the first connect only
}

// runningTS is the version (ms) of the connector that runs: the ts of the remote update that installed it or
// its file's modification time, whichever is later.
func (r *remoteState) runningTS(name, file string) int64 {
	r.mu.Lock()
	ts := r.applied[name]
	r.mu.Unlock()
	if fi, err := os.Stat(file); err == nil {
		ts = max(ts, fi.ModTime().UnixMilli())
	}
	return ts
}

// lastApplied returns the ts of the last update applied to a connector (0 when none was) and that update's
// canonical JSON.
func (r *remoteState) lastApplied(name string) (int64, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied[name], r.appliedJSON[name]
}

// markApplied records the ts a connector now runs with.
func (r *remoteState) markApplied(name string, ts int64, canonical string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.applied == nil {
		r.applied, r.appliedJSON = map[string]int64{}, map[string]string{}
	}
	r.applied[name], r.appliedJSON[name] = ts, canonical
}

// firstSight records value as handled for key and reports whether it was not handled before.
func (r *remoteState) firstSight(key string, value []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]string{}
	}
	v := canonicalJSON(value)
	if old, ok := r.seen[key]; ok && old == v {
		return false
	}
	r.seen[key] = v
	return true
}

// canonicalJSON returns value re-encoded with sorted keys and no spaces, so that one value pushed and the same
// value in an answer to a request compare equal whatever their formatting; value as is when it does not parse.
func canonicalJSON(value []byte) string {
	d := json.NewDecoder(bytes.NewReader(value))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return string(value)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return string(value)
	}
	return string(b)
}

// applier is where connector changes go: Options.RemoteApplier, else the gateway itself once it implements
// ConnectorApplier; nil when neither does.
func (g *Gateway) applier() ConnectorApplier {
	if g.opts.RemoteApplier != nil {
		return g.opts.RemoteApplier
	}
	a, _ := any(g).(ConnectorApplier)
	return a
}

// remoteOnConnect publishes the configuration attributes, then requests the gateway device's shared attributes
// in the background and handles them as updates. It runs on every connect.
func (g *Gateway) remoteOnConnect(ctx context.Context) {
	if !g.config().Thingsboard.RemoteConfiguration {
		g.remote.offOnce.Do(func() {
			g.log.Info("remote configuration is off (thingsboard.remoteConfiguration is false): configuration changes from ThingsBoard are ignored, RemoteLoggingLevel only is followed")
		})
	}
	g.publishRemoteConfig(ctx)
	reqCtx, cancel := context.WithCancel(ctx)
	g.remote.mu.Lock()
	if g.remote.cancel != nil {
		g.remote.cancel()
	}
	g.remote.cancel = cancel
	g.remote.mu.Unlock()
	g.syncs.Go(func() {
		defer cancel()
		var keys []string
		if !g.config().Thingsboard.RemoteConfiguration {
			keys = []string{attrRemoteLogLevel}
		}
		// No keys: ThingsBoard answers every attribute, so connectors created in its UI are found too.
		_, shared, err := g.link.RequestOwnAttributes(reqCtx, nil, keys)
		if err != nil {
			if reqCtx.Err() == nil {
				g.log.Warn("requesting the gateway's shared attributes failed; remote changes made while offline wait for the next connect", "err", err)
			}
			return
		}
		g.remoteUpdate(context.WithoutCancel(reqCtx), shared)
	})
}

// publishRemoteConfig sends the client attributes ThingsBoard's gateway pages read: the main file's sections,
// active_connectors and one attribute per known connector. Secrets are redacted.
func (g *Gateway) publishRemoteConfig(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, ownAttributesTimeout)
	defer cancel()
	ts := g.now().UnixMilli()
	infos := g.Connectors()
	general := map[string]any{
		attrGeneral:          generalAttr(g.config(), g.commandsAttr(), ts),
		attrStorage:          sectionAttr(g.config().Raw["storage"], ts),
		attrGRPC:             sectionAttr(g.config().Raw["grpc"], ts),
		attrLogs:             logsAttr(g.config().Dir, ts),
		attrActiveConnectors: activeNames(infos),
		"Version":            Version,
	}
	all := []map[string]any{general}
	for _, ci := range infos {
		c := config.Connector{Name: ci.Name, Type: ci.Type, Configuration: g.relConfigPath(ci.File), File: ci.File, Raw: ci.Config}
		all = append(all, map[string]any{ci.Name: connectorAttr(c, ts)})
	}
	for _, attrs := range all {
		if err := g.link.PublishOwnAttributes(ctx, attrs); err != nil {
			if ctx.Err() == nil {
				g.log.Warn("publishing the gateway's configuration attributes failed", "err", err)
			}
			return
		}
	}
}

// activeNames lists the connectors in the running set, for active_connectors (a JSON array, never null).
func activeNames(infos []ConnectorInfo) []string {
	names := []string{}
	for _, ci := range infos {
		if ci.Active {
			names = append(names, ci.Name)
		}
	}
	return names
}

// relConfigPath is a connector file's name as the main file's "configuration" writes it.
func (g *Gateway) relConfigPath(file string) string {
	if rel, err := filepath.Rel(g.config().Dir, file); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return filepath.Base(file)
}

// rawOf returns the JSON text of an attribute value as the link decoded it.
func rawOf(v any) []byte {
	switch x := v.(type) {
	case tbgateway.RawJSON:
		return x
	case json.RawMessage:
		return x
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
