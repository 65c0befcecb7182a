package config

import (
	"encoding/json"
	"fmt"
	"path/filepath"
)

// WithSection returns a new Config: c with its top-level section name (for example "thingsboard" or "storage")
// replaced by raw (a JSON object), decoded, defaulted, overridden by the environment (env, as for Load; nil:
// none) and validated exactly as Load does with the main file, without I/O. The connectors are c's, as they
// are (their files are not read again). Errors and warnings name c.File and the key path. c is not modified.
// Remote configuration uses it to check a section ThingsBoard pushes before anything changes.
func (c *Config) WithSection(name string, raw json.RawMessage, env func(string) string) (*Config, []Warning, error) {
	sections := make(map[string]json.RawMessage, len(c.Raw)+1)
	for k, v := range c.Raw {
		sections[k] = v
	}
	sections[name] = raw
	data, err := json.Marshal(sections)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", c.File, name, err)
	}
	tree, err := parseJSON(c.File, data)
	if err != nil {
		return nil, nil, err
	}
	dir := c.Dir
	if dir == "" {
		dir = filepath.Dir(c.File)
	}
	out, warns, err := decodeValidated(c.File, dir, tree, env)
	if err != nil {
		return nil, warns, err
	}
	out.Connectors = append([]Connector(nil), c.Connectors...)
	return out, warns, nil
}
