package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Main file names looked up in a config folder, in order of preference (the Python gateway's).
const (
	MainFileJSON = "tb_gateway.json"
	MainFileYAML = "tb_gateway.yaml"
)

// maxFileSize bounds what Load reads from one file; configuration files are a few kilobytes.
const maxFileSize = 16 << 20

// ResolvePath returns the configuration path the gateway should load: flag if set, else $TB_GW_CONFIG_DIR as the
// Python gateway reads it, else "./config/". A nil env counts as an empty environment.
func ResolvePath(flag string, env func(string) string) string {
	if flag != "" {
		return flag
	}
	if env != nil {
		if dir := env("TB_GW_CONFIG_DIR"); dir != "" {
			return dir
		}
	}
	return "./config/"
}

// Load reads the main configuration file at path (the file itself, or a folder holding tb_gateway.json or, if
// that is absent, tb_gateway.yaml; a file ending in .yaml or .yml is read as YAML, any other as JSON), applies the
// Python gateway's defaults, the environment overrides read through env (nil: none), reads every connector's
// configuration file (resolved against the main file's folder) and validates the result with Validate.
//
// Errors: *SyntaxError for a file that does not parse, *Error for a wrong type or value (several joined with
// errors.Join), or an error wrapping fs.ErrNotExist for a missing main file. Warnings are unknown keys and values
// that are ignored; they never stop loading. The Config is nil whenever the error is not nil. A connector file
// that is missing or not a JSON object is no error of Load: it sets that connector's Err (the gateway runs the
// other connectors).
func Load(path string, env func(string) string) (*Config, []Warning, error) {
	file, err := findMainFile(path)
	if err != nil {
		return nil, nil, err
	}
	data, err := readFile(file)
	if err != nil {
		return nil, nil, err
	}
	var tree any
	if isYAML(file) {
		tree, err = parseYAML(file, data)
	} else {
		tree, err = parseJSON(file, data)
	}
	if err != nil {
		return nil, nil, err
	}
	cfg, warns, err := decodeValidated(file, filepath.Dir(file), tree, env)
	if err != nil {
		return nil, warns, err
	}
	if p := cfg.Thingsboard.Provisioning; p != nil && !p.FromEnvironment && cfg.Thingsboard.Security.Type != "" {
		warns = append(warns, Warning{File: file, Path: "thingsboard.provisioning",
			Msg: "ignored: thingsboard.security holds credentials, which come first (as in the Python gateway)"})
	}
	cfg.readConnectorFiles()
	warns = append(warns, cfg.loadStatisticsCommands()...)
	return cfg, warns, nil
}

// decodeValidated turns the parsed main file into a Config whose folder is dir: decoded with the defaults,
// overridden by the environment, finished and validated. It does no I/O; connector files are not read.
func decodeValidated(file, dir string, tree any, env func(string) string) (*Config, []Warning, error) {
	cfg, warns, err := decodeMain(file, tree)
	if err != nil {
		return nil, warns, err
	}
	cfg.Dir = dir
	envWarns, err := applyEnv(cfg, env)
	warns = append(warns, envWarns...)
	if err != nil {
		return nil, warns, err
	}
	cfg.finish()
	if err := cfg.Validate(); err != nil {
		return nil, warns, err
	}
	return cfg, warns, nil
}

// Check loads and validates the configuration at path like Load and returns its warnings as text and its errors,
// the connectors' Err included; a connector whose type known does not report adds the warning "connector type X
// is not supported yet" (not an error). A nil known reports every type as known.
func Check(path string, env func(string) string, known func(typ string) bool) ([]string, error) {
	cfg, warns, err := Load(path, env)
	out := make([]string, 0, len(warns))
	for _, w := range warns {
		out = append(out, w.String())
	}
	if err != nil {
		return out, err
	}
	var errs []error
	if cfg.StatisticsCommandsErr != nil {
		errs = append(errs, cfg.StatisticsCommandsErr)
	}
	for _, c := range cfg.Connectors {
		if c.Err != nil {
			errs = append(errs, c.Err)
			continue
		}
		if known != nil && !known(c.Type) {
			out = append(out, fmt.Sprintf("connector type %s is not supported yet", c.Type))
		}
	}
	return out, errors.Join(errs...)
}

func findMainFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("configuration %s: %w", path, err)
	}
	if !st.IsDir() {
		return path, nil
	}
	for _, name := range []string{MainFileJSON, MainFileYAML} {
		file := filepath.Join(path, name)
		if _, err := os.Stat(file); err == nil {
			return file, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("configuration %s: %w", file, err)
		}
	}
	return "", fmt.Errorf("configuration folder %s holds neither %s nor %s: %w", path, MainFileJSON, MainFileYAML, fs.ErrNotExist)
}

func isYAML(file string) bool {
	ext := strings.ToLower(filepath.Ext(file))
	return ext == ".yaml" || ext == ".yml"
}

func readFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("configuration %s: %w", file, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("configuration %s: %w", file, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("configuration %s: larger than %d bytes", file, maxFileSize)
	}
	return data, nil
}

// finish applies what depends on several keys or on the environment: the inferred security type, the
// provisioning default type and our paths resolved against the config folder.
func (c *Config) finish() {
	s := &c.Thingsboard.Security
	if s.Type == "" {
		switch {
		case s.AccessToken != "" && s.CACert != "":
			s.Type = SecurityTLSAccessToken
		case s.AccessToken != "":
			s.Type = SecurityAccessToken
		case s.Username != "" || s.ClientID != "":
			s.Type = SecurityUsernamePassword
		case s.Cert != "" || s.PrivateKey != "":
			s.Type = SecurityTLSPrivateKey
		}
	}
	if p := c.Thingsboard.Provisioning; p != nil && p.Type == "" {
		p.Type = "ACCESS_TOKEN"
	}
	if c.Gateway.DataFolderPath == "" {
		c.Gateway.DataFolderPath = c.Dir
	} else if !filepath.IsAbs(c.Gateway.DataFolderPath) {
		c.Gateway.DataFolderPath = filepath.Join(c.Dir, c.Gateway.DataFolderPath)
	}
	for i, f := range c.Gateway.AllowedRemoteFolders {
		if !filepath.IsAbs(f) {
			c.Gateway.AllowedRemoteFolders[i] = filepath.Join(c.Dir, f)
		}
	}
	if dl := c.Thingsboard.DeadLetterFile; dl != "" && !filepath.IsAbs(dl) {
		c.Thingsboard.DeadLetterFile = filepath.Join(c.Gateway.DataFolderPath, dl)
	}
}

// readConnectorFiles reads each connector's configuration file and checks that it holds a JSON object; a file
// that does not sets that connector's Err.
func (c *Config) readConnectorFiles() {
	for i := range c.Connectors {
		conn := &c.Connectors[i]
		conn.File = conn.Configuration
		if !filepath.IsAbs(conn.File) {
			conn.File = filepath.Join(c.Dir, conn.File)
		}
		path := indexPath("connectors", i) + ".configuration"
		data, err := readFile(conn.File)
		if err != nil {
			found := fmt.Sprintf("%q (%v)", conn.File, errors.Unwrap(err))
			if errors.Is(err, fs.ErrNotExist) {
				found = fmt.Sprintf("%q (no such file)", conn.File)
			}
			conn.Err = &Error{File: c.File, Path: path, Expected: "a readable connector configuration file", Found: found, Err: err}
			continue
		}
		if err := CheckConnectorFile(conn.File, data); err != nil {
			conn.Err = err
			continue
		}
		conn.Raw = data
	}
}
