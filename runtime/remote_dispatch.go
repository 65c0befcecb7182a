package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tbgateway/tbgateway/config"
)

// errRemoteOff is the reason every remote change but RemoteLoggingLevel is ignored.
var errRemoteOff = errors.New("remote configuration is off (thingsboard.remoteConfiguration is false in the main file); nothing was changed")

// remoteUpdate handles shared attributes of the gateway device, from an update or from the answer to the
// request made after a connect: gateway-level keys first, then connector configurations, then
// active_connectors. A value handled before (the same JSON) is skipped, so a reconnect repeats nothing.
func (g *Gateway) remoteUpdate(ctx context.Context, values map[string]any) {
	g.remote.applyMu.Lock()
	defer g.remote.applyMu.Unlock()
	var conns []string
	for k := range values {
		if !slices.Contains(remoteSharedKeys, k) {
			conns = append(conns, k)
		}
	}
	slices.Sort(conns)
	// remoteSharedKeys ends with active_connectors, so it comes after the connectors it may list.
	keys := slices.Concat(remoteSharedKeys[:len(remoteSharedKeys)-1], conns, []string{attrActiveConnectors})
	for _, k := range keys {
		if v, ok := values[k]; ok {
			g.remoteKey(ctx, k, v)
		}
	}
}

// remoteKey handles one shared attribute. A refusal is logged once and written back as RemoteConfigErrorKey.
func (g *Gateway) remoteKey(ctx context.Context, key string, v any) {
	raw := rawOf(v)
	if !g.remote.firstSight(key, raw) {
		g.log.Debug("remote configuration: shared attribute already handled", "key", key)
		return
	}
	obj := objectOf(raw)
	ts := tsOf(obj["ts"])
	isConnector := obj["configurationJson"] != nil || (obj["name"] != nil && obj["type"] != nil)
	switch {
	case key == attrRemoteLogLevel:
		if err := g.remoteLogLevel(ctx, v); err != nil {
			g.refuseRemote(ctx, key, ts, err)
		}
		return
	case !slices.Contains(remoteSharedKeys, key) && !isConnector:
		g.log.Debug("remote configuration: shared attribute of the gateway device is not a connector configuration; ignored", "key", key)
		return
	case !g.config().Thingsboard.RemoteConfiguration:
		g.refuseRemote(ctx, key, ts, errRemoteOff)
		return
	}
	var err error
	switch key {
	case attrLogs:
		err = g.remoteLogs(ctx, raw)
	case attrGeneral:
		err = g.remoteGeneral(ctx, obj)
	case attrStorage:
		err = g.remoteStorage(ctx, raw, ts)
	case attrGRPC:
		err = fmt.Errorf("applying %s from ThingsBoard is not supported yet; what runs is unchanged (edit the files and restart)", key)
	case attrActiveConnectors:
		err = g.remoteActive(ctx, raw)
	default:
		err = g.remoteConnector(ctx, obj, ts)
	}
	if err != nil {
		g.refuseRemote(ctx, key, ts, err)
	}
	// active_connectors applies every name it can even when one is refused: what runs changed either way.
	if err == nil || key == attrActiveConnectors {
		g.persistRemote(ctx, key, obj, ts)
	}
}

// tsOf reads an update's "ts" (ms); 0 when absent or not a number.
func tsOf(v any) int64 {
	n, ok := v.(json.Number)
	if !ok {
		return 0
	}
	if i, err := n.Int64(); err == nil {
		return i
	}
	f, _ := n.Float64()
	return int64(f)
}

// refuseRemote logs why a remote change was not applied and writes it back as RemoteConfigErrorKey.
func (g *Gateway) refuseRemote(ctx context.Context, key string, ts int64, reason error) {
	g.log.Warn("remote configuration: change refused", "key", key, "ts", ts, "reason", reason)
	g.publishRemote(ctx, map[string]any{RemoteConfigErrorKey: map[string]any{
		"key": key, "ts": ts, "error": reason.Error(), "time": g.now().UnixMilli(),
	}})
}

// publishRemote sends client attributes of the gateway device, logging a failure.
func (g *Gateway) publishRemote(ctx context.Context, attrs map[string]any) {
	ctx, cancel := context.WithTimeout(ctx, ownAttributesTimeout)
	defer cancel()
	if err := g.link.PublishOwnAttributes(ctx, attrs); err != nil {
		g.log.Warn("remote configuration: publishing client attributes failed", "err", err)
	}
}

// remoteActive applies active_connectors: a JSON array of connector names.
func (g *Gateway) remoteActive(ctx context.Context, raw []byte) error {
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil {
		return fmt.Errorf("active_connectors: want a JSON array of connector names, got %s", raw)
	}
	a := g.applier()
	if a == nil {
		return errors.New("active_connectors: this gateway cannot start or stop connectors while it runs yet")
	}
	actx, cancel := context.WithTimeout(ctx, remoteApplyTimeout)
	defer cancel()
	if err := a.SetActiveConnectors(actx, names); err != nil {
		g.publishRemote(ctx, map[string]any{attrActiveConnectors: activeNames(g.Connectors())})
		return fmt.Errorf("active_connectors: %w", err)
	}
	g.log.Info("remote configuration: active connectors set from ThingsBoard", "connectors", names)
	g.publishRemote(ctx, map[string]any{attrActiveConnectors: activeNames(g.Connectors())})
	return nil
}

// remoteConnector applies one connector's configuration in the Python remote shape ({name, type,
// configurationJson, configuration?, logLevel, enableRemoteLogging?, reportStrategy?, configVersion?, id?, ts}).
// An update whose ts is not newer than the running version is ignored, as in the Python gateway.
func (g *Gateway) remoteConnector(ctx context.Context, obj map[string]any, ts int64) error {
	name, _ := obj["name"].(string)
	typ, _ := obj["type"].(string)
	conf, ok := obj["configurationJson"].(map[string]any)
	switch {
	case name == "":
		return errors.New("connector configuration: \"name\" is missing or not a string")
	case typ == "":
		return fmt.Errorf("connector %q: \"type\" is missing or not a string", name)
	case !ok:
		return fmt.Errorf("connector %q: \"configurationJson\" is missing or not an object", name)
	}
	file, _ := obj["configuration"].(string)
	if file == "" {
		file = strings.ToLower(strings.ReplaceAll(name, " ", "_")) + ".json"
	}
	if err := g.checkConnectorFileName(name, file); err != nil {
		return fmt.Errorf("connector %q: %w", name, err)
	}
	var running *ConnectorInfo
	for _, ci := range g.Connectors() {
		if ci.Name == name {
			running = &ci
		}
	}
	// An update older than one already applied is stale, and the very update applied last seen again is a
	// repeat (an answer to the connect-time request overtaken by pushes): both are ignored whether or not the
	// connector runs now.
	canonical := canonicalJSON(rawOf(obj))
	if last, lastJSON := g.remote.lastApplied(name); ts < last || (ts == last && canonical == lastJSON) {
		g.log.Info("remote configuration: connector update older than one already applied; ignored", "connector", name, "ts", ts, "applied", last)
		return nil
	}
	if running != nil && g.connectorByName(name) != nil {
		if rts := g.remote.runningTS(name, running.File); ts <= rts {
			g.log.Info("remote configuration: connector update not newer than what runs; ignored", "connector", name, "ts", ts, "running", rts)
			return nil
		}
	}
	// The file's object, as the Python gateway writes it: the attribute's meta keys moved back in.
	for _, k := range append(connectorMetaKeys, "id") {
		if v, ok := obj[k]; ok && v != nil {
			conf[k] = v
		}
	}
	conf["name"] = name
	if running != nil {
		unredact(conf, objectOf(running.Config))
	}
	raw, err := json.Marshal(conf)
	if err != nil {
		return fmt.Errorf("connector %q: %w", name, err)
	}
	// The Python gateway lower-cases connector types; ThingsBoard's UI and the blackbox suite send "OPCUA".
	typ = strings.ToLower(typ)
	c := config.Connector{Type: typ, Name: name, Configuration: file, File: filepath.Join(g.config().Dir, file), Raw: raw}
	a := g.applier()
	if a == nil {
		return fmt.Errorf("connector %q: this gateway cannot replace connectors while it runs yet", name)
	}
	actx, cancel := context.WithTimeout(ctx, remoteApplyTimeout)
	defer cancel()
	if err := a.ApplyConnector(actx, c, raw); err != nil {
		return fmt.Errorf("connector %q: %w", name, err)
	}
	g.remote.markApplied(name, ts, canonical)
	g.log.Info("remote configuration: connector configuration applied from ThingsBoard", "connector", name, "type", typ, "ts", ts)
	g.publishRemote(ctx, map[string]any{name: connectorAttr(c, ts), attrActiveConnectors: activeNames(g.Connectors())})
	return nil
}
