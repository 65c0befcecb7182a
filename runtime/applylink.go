package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/report"
	"github.com/tbgateway/tbgateway/uplink"
)

// DefaultLinkTryTimeout is how long a new ThingsBoard connection (general_configuration) is tried before the
// previous one is restored.
const DefaultLinkTryTimeout = 30 * time.Second

// securityPathKeys are the keys of thingsboard.security that name files.
var securityPathKeys = []string{"caCert", "cert", "privateKey"}

// linkTryTimeout is Options.LinkTryTimeout or its default.
func (g *Gateway) linkTryTimeout() time.Duration {
	if g.opts.LinkTryTimeout > 0 {
		return g.opts.LinkTryTimeout
	}
	return DefaultLinkTryTimeout
}

// ApplyThingsboard applies a new "thingsboard" section of the main file (a JSON object, as the file holds it)
// to the running gateway, the way general_configuration from ThingsBoard is applied:
//
//   - validated first with the same code as check-config (the config package's decoding and Validate, then the
//     link's settings and the report strategy); an invalid section changes nothing and the error says why;
//   - a changed connection (host, port, security, client id, keepalive, in-flight window, ...): the link is
//     moved with uplink.Client.Reconnect, the new connection tried for Options.LinkTryTimeout (30 s) while the
//     storage keeps every record; if it does not come up the previous one is restored and nothing else changes;
//   - rate limits, the default report strategy, statistics (enable, periods; not its commands, which a remote
//     change may not set), checkConnectorsConfigurationInSeconds, deviceFiltering (its file read first; a file
//     that does not load refuses the change), checkingDeviceActivity and remoteConfiguration are applied in
//     place, without reconnecting.
//
// On success Config returns the new configuration. It holds the reconfiguration lock throughout.
func (g *Gateway) ApplyThingsboard(ctx context.Context, section json.RawMessage) error {
	if err := g.lockReconf(ctx); err != nil {
		return err
	}
	defer g.unlockReconf()
	old := g.config()
	next, warns, err := old.WithSection("thingsboard", section, g.opts.Env)
	if err != nil {
		return err
	}
	for _, w := range warns {
		g.log.Warn("thingsboard section: " + w.String())
	}
	if err := checkSecurityPaths(old, next); err != nil {
		return err
	}
	filterChanged := old.Thingsboard.DeviceFiltering != next.Thingsboard.DeviceFiltering
	var devFilter *DeviceFilter
	if filterChanged {
		if err := checkFilterPath(old, next); err != nil {
			return err
		}
		f, warns, err := loadDeviceFilter(next)
		for _, w := range warns {
			g.log.Warn("config", "warning", w)
		}
		if err != nil {
			return err
		}
		devFilter = f
	}
	if g.statisticsCommandsChanged(next) {
		return &config.Error{File: next.File, Path: "thingsboard.statistics.commands", Found: "other commands or another commands file",
			Expected: "the custom statistics commands in force (a remote change may not set commands to run; edit the local file)"}
	}
	// The plan of the main file alone: the connectors are not rebuilt, their configuration is unchanged.
	bare := *next
	bare.Connectors = nil
	p, err := makePlan(&bare, g.log)
	if err != nil {
		return err
	}
	oldUp, newUp := uplinkConfig(old), p.uplink
	if err := oldUp.Validate(); err != nil {
		return fmt.Errorf("%s: thingsboard: %w", old.File, err)
	}
	switch {
	case connectionChanged(oldUp, newUp):
		if err := g.link.Reconnect(ctx, newUp, g.linkTryTimeout()); err != nil {
			return fmt.Errorf("the new thingsboard connection was not kept, the previous one runs: %w", err)
		}
	case oldUp != newUp:
		if err := g.link.SetRateLimits(newUp); err != nil {
			return fmt.Errorf("%s: thingsboard: %w", old.File, err)
		}
	}
	if p.resolver.Global != g.resolver.Global {
		r := &report.Resolver{Global: p.resolver.Global, Rules: maps.Clone(g.resolver.Rules)}
		g.resolver = r
		g.filter.SetResolver(r)
	}
	g.cfg.Store(next)
	if filterChanged {
		g.devFilter.filter.Store(devFilter)
		g.log.Info("device filtering changed", "enable", next.Thingsboard.DeviceFiltering.Enable,
			"file", next.Thingsboard.DeviceFiltering.FilterFile)
	}
	g.statisticsChanged()
	g.services.restart(g, old, next)
	g.log.Info("thingsboard section applied", "host", next.Thingsboard.Host, "port", next.Thingsboard.Port,
		"reconnected", connectionChanged(oldUp, newUp))
	return nil
}

// connectionChanged reports whether two link configurations differ in more than their rate limits (those are
// swapped on the running link).
func connectionChanged(a, b uplink.Config) bool {
	for _, c := range []*uplink.Config{&a, &b} {
		c.RateLimits, c.DPRateLimits, c.MessagesRateLimits = "", "", ""
		c.DeviceRateLimits, c.DeviceDPRateLimits, c.DeviceMessagesRateLimits = "", "", ""
	}
	return a != b
}

// checkSecurityPaths refuses certificate and key paths outside the config and data folders and the local
// gateway.allowedRemoteFolders, unless the running configuration already names the same file (decisions.md,
// Security: a remote change may not point the gateway at arbitrary files).
func checkSecurityPaths(old, next *config.Config) error {
	was := map[string]bool{}
	for _, p := range []string{old.Thingsboard.Security.CACert, old.Thingsboard.Security.Cert, old.Thingsboard.Security.PrivateKey} {
		if p != "" {
			was[resolvePath(old.Dir, p)] = true
		}
	}
	s := next.Thingsboard.Security
	for i, p := range []string{s.CACert, s.Cert, s.PrivateKey} {
		if p == "" {
			continue
		}
		abs := resolvePath(next.Dir, p)
		if was[abs] || within(abs, next.Dir) || within(abs, next.Gateway.DataFolderPath) || slices.ContainsFunc(old.Gateway.AllowedRemoteFolders, func(dir string) bool { return within(abs, dir) }) {
			continue
		}
		return &config.Error{File: next.File, Path: "thingsboard.security." + securityPathKeys[i], Found: fmt.Sprintf("%q", p),
			Expected: "a file inside the config folder, the data folder or a folder of the local gateway.allowedRemoteFolders (a remote change may not name other files)"}
	}
	return nil
}

// checkFilterPath refuses a device filter file outside the config and data folders and the local
// gateway.allowedRemoteFolders, unless it is the file the running configuration names.
func checkFilterPath(old, next *config.Config) error {
	f := next.Thingsboard.DeviceFiltering.FilterFile
	if !next.Thingsboard.DeviceFiltering.Enable || f == "" {
		return nil
	}
	abs := resolvePath(next.Dir, f)
	if (old.Thingsboard.DeviceFiltering.FilterFile != "" && abs == resolvePath(old.Dir, old.Thingsboard.DeviceFiltering.FilterFile)) ||
		within(abs, next.Dir) || within(abs, next.Gateway.DataFolderPath) ||
		slices.ContainsFunc(old.Gateway.AllowedRemoteFolders, func(dir string) bool { return within(abs, dir) }) {
		return nil
	}
	return &config.Error{File: next.File, Path: "thingsboard.deviceFiltering.filterFile", Found: fmt.Sprintf("%q", f),
		Expected: "a file inside the config folder, the data folder or a folder of the local gateway.allowedRemoteFolders (a remote change may not name other files)"}
}

// remoteGeneral applies general_configuration pushed from ThingsBoard: the thingsboard section in the shape
// generalAttr publishes (with ts, statistics in the Python remote shape, secrets possibly <redacted>). After a
// success the client attribute is published again with what runs.
func (g *Gateway) remoteGeneral(ctx context.Context, obj map[string]any) error {
	delete(obj, "ts")
	if st, ok := obj["statistics"].(map[string]any); ok {
		// Our own echo holds an empty "commands" list (custom commands come from the statistics file).
		if cmds, ok := st["commands"].([]any); ok && len(cmds) == 0 {
			delete(st, "commands")
		}
	}
	unredact(obj, objectOf(g.config().Raw["thingsboard"]))
	raw, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("general_configuration: %w", err)
	}
	actx, cancel := context.WithTimeout(ctx, g.linkTryTimeout()+remoteApplyTimeout)
	defer cancel()
	if err := g.ApplyThingsboard(actx, raw); err != nil {
		return fmt.Errorf("general_configuration: %w", err)
	}
	g.log.Info("remote configuration: general_configuration applied from ThingsBoard")
	g.publishRemote(ctx, map[string]any{attrGeneral: generalAttr(g.config(), g.commandsAttr(), g.now().UnixMilli())})
	return nil
}
