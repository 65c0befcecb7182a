package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tbgateway/tbgateway/config"
)

// reloadState is what hot reload remembers between checks of the configuration files.
type reloadState struct {
	mu      sync.Mutex
	hashes  map[string][32]byte // per connector name: the hash of its "connectors" entry and file as last seen
	mainErr string              // the main file's error last logged, so that it is logged once
}

// watchFiles checks the configuration files every period until ctx ends (checkConnectorsConfigurationInSeconds).
func (g *Gateway) watchFiles(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = g.Reload(ctx) // Reload logs what it refuses
		}
	}
}

// Reload reads the main configuration file and the connector files again, as the periodic check
// (checkConnectorsConfigurationInSeconds) does and SIGHUP asks for at once. A connector whose entry or file
// changed since the last check is applied with ApplyConnector (that connector only); one added to the main file's
// "connectors" list is started, one removed from it is stopped with its devices disconnected at ThingsBoard. An
// invalid main file changes nothing; an invalid connector file leaves that connector running as it was. Each
// refusal is logged once, naming the file and the key, and returned (joined); a file is not re-applied until it
// changes again. Other sections of the main file are not reloaded (they need a restart).
func (g *Gateway) Reload(ctx context.Context) error {
	st := &g.reload
	st.mu.Lock()
	defer st.mu.Unlock()
	cfg, _, err := config.Load(g.config().File, g.opts.Env)
	if err != nil {
		err = fmt.Errorf("reloading the configuration: %w", err)
		if msg := err.Error(); msg != st.mainErr {
			st.mainErr = msg
			g.log.Error("main configuration file refused; the running configuration stays", "file", g.config().File, "err", err)
		}
		return err
	}
	st.mainErr = ""
	if st.hashes == nil {
		st.hashes = g.fileHashes(g.config())
	}
	var errs []error
	listed := map[string]bool{}
	for _, cc := range cfg.Connectors {
		listed[cc.Name] = true
		h := entryHash(cc)
		if old, ok := st.hashes[cc.Name]; ok && old == h {
			continue
		}
		st.hashes[cc.Name] = h
		if g.runsConfig(cc) {
			continue // applied already, from elsewhere (remote configuration saving the file)
		}
		if err := g.ApplyConnector(ctx, cc, nil); err != nil {
			g.log.Error("connector configuration refused; the running connector stays as it was", "connector", cc.Name, "file", cc.File, "err", err)
			errs = append(errs, err)
		}
	}
	for name := range st.hashes {
		if listed[name] {
			continue
		}
		delete(st.hashes, name)
		if err := g.RemoveConnector(ctx, name, true); err != nil && !errors.Is(err, ErrUnknownConnector) {
			g.log.Error("stopping a connector removed from the main file", "connector", name, "file", g.config().File, "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fileHashes returns the hashes of the connectors of cfg, the configuration the gateway started with.
func (g *Gateway) fileHashes(cfg *config.Config) map[string][32]byte {
	out := make(map[string][32]byte, len(cfg.Connectors))
	for _, cc := range cfg.Connectors {
		out[cc.Name] = entryHash(cc)
	}
	return out
}

// entryHash hashes what defines a connector on disk: its "connectors" entry and its file's content (or why the
// file cannot be used).
func entryHash(cc config.Connector) [32]byte {
	errText := ""
	if cc.Err != nil {
		errText = cc.Err.Error()
	}
	b, _ := json.Marshal([]any{cc.Type, cc.Name, cc.File, cc.Class, cc.Key, cc.UseGRPCForce, errText})
	return sha256.Sum256(append(b, cc.Raw...))
}

// runsConfig says whether the active connector of that name already runs exactly cc (same type, file and
// configuration, compared as JSON values).
func (g *Gateway) runsConfig(cc config.Connector) bool {
	conns := g.connList()
	i := indexOf(conns, cc.Name)
	if i < 0 || cc.Err != nil {
		return false
	}
	run := conns[i].cfg
	// Compared as values: a file saved from a remote change keeps the user's key order (persist.go).
	return run.Type == cc.Type && run.File == cc.File && canonicalJSON(run.Raw) == canonicalJSON(cc.Raw)
}
