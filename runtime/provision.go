package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"

	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/provision"
	"github.com/tbgateway/tbgateway/uplink"
)

// linkConfig returns the link's settings for cfg with the credentials of creds (see provision.Resolve): the
// configured ones, the saved ones, or, before a provisioning, stand-ins of the type it will bring, so that the
// settings are checked alike by check-config and the start.
func linkConfig(cfg *config.Config, creds *provision.Plan) uplink.Config {
	return withSecurity(cfg, creds.StandIn())
}

// withSecurity returns the link's settings for cfg with its security section replaced by sec.
func withSecurity(cfg *config.Config, sec config.Security) uplink.Config {
	c := *cfg
	c.Thingsboard.Security = sec
	return uplinkConfig(&c)
}

// awaitCredentials provisions the gateway device when its credentials are to come from a provisioning (no
// thingsboard.security credentials, no saved ones): the exchange is retried while ThingsBoard cannot be reached,
// and the link then runs with the credentials saved. A refusal stops the start with an error naming the keys.
func (g *Gateway) awaitCredentials(ctx context.Context) error {
	creds := g.credentials
	if creds == nil || creds.Source != provision.FromProvisioning {
		return nil
	}
	cfg := g.config()
	dialCfg := withSecurity(cfg, creds.Security) // the TLS settings only: the session authenticates as "provision"
	dial := func(ctx context.Context) (net.Conn, error) { return uplink.Dial(ctx, dialCfg) }
	policy := backoff.Policy{Initial: dialCfg.ReconnectMin, Max: dialCfg.ReconnectMax, Multiplier: 2}
	sec, err := creds.Provision(ctx, dial, policy, g.log.With("component", "provision"))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w", cfg.File, err)
	}
	if err := g.link.SetSecurity(withSecurity(cfg, sec).Security); err != nil {
		return fmt.Errorf("%s: provisioned credentials: %w", cfg.File, err)
	}
	g.credentials = &provision.Plan{Source: provision.FromSaved, Security: sec, File: creds.File, Dir: creds.Dir}
	return nil
}

// stopBeforeStart releases what New opened when Run ends before anything started (provisioning refused, or
// ctx ended meanwhile): the latter is a normal stop.
func (g *Gateway) stopBeforeStart(err error) error {
	if cerr := g.store.Close(); cerr != nil {
		g.log.Warn("closing storage", "err", cerr)
	}
	if cerr := g.stamper.Close(); cerr != nil {
		g.log.Warn("closing the stamper state", "err", cerr)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		g.log.Info("gateway stopped before it was provisioned")
		return nil
	}
	return err
}

// removeProvisionedCredentials serves gateway_remove_provisioned_credentials as the Python gateway does: the
// credentials file is deleted and the connection in use is kept; the next start provisions again.
func (g *Gateway) removeProvisionedCredentials() json.RawMessage {
	file := filepath.Join(g.config().Dir, provision.FileName)
	res := provision.Remove(file)
	switch res["code"] {
	case 200:
		g.log.Info("provisioned credentials removed: the next start provisions the gateway again (or uses thingsboard.security)", "file", file)
	case 404:
		g.log.Info("gateway_remove_provisioned_credentials: no provisioned credentials file", "file", file)
	default:
		g.log.Error("gateway_remove_provisioned_credentials failed", "file", file, "error", res["error"])
	}
	b, _ := json.Marshal(res)
	return b
}
