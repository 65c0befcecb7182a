package uplink

// SetSecurity replaces the credentials of a Client that has not run yet (the gateway's own, provisioned at
// start); TLS is decided again from them (see Config.UsesTLS). It checks them as New does. It must be called
// before Run and not concurrently with other methods.
func (c *Client) SetSecurity(s Security) error {
	cfg := *c.conf()
	cfg.Security = s
	if err := cfg.Validate(); err != nil {
		return err
	}
	c.set.Store(&settings{cfg: cfg, useTLS: cfg.UsesTLS()})
	return nil
}
