package runtime

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
)

// CheckConfig validates the configuration at path without connecting anywhere: the main file, every connector
// file, and each built-in connector's own settings. It returns the warnings (unknown keys, ignored settings,
// connector types not supported yet) and the errors found, joined; each names its file and key.
func CheckConfig(path string, env func(string) string) ([]string, error) {
	warnings, err := config.Check(path, env, func(typ string) bool {
		_, ok := tbgateway.LookupConnector(typ)
		return ok
	})
	if err != nil {
		return warnings, err
	}
	cfg, _, err := config.Load(path, env)
	if err != nil {
		return warnings, err
	}
	var errs []error
	if t := cfg.Storage.Type; t != config.StorageMemory && t != config.StorageFile && t != config.StorageSQLite {
		errs = append(errs, fmt.Errorf("%s: storage.type: %q storage is not supported (use \"memory\", \"file\" or \"sqlite\")", cfg.File, t))
	}
	for _, cc := range cfg.Connectors {
		ct, ok := tbgateway.LookupConnector(cc.Type)
		if !ok {
			continue
		}
		in := tbgateway.ConnectorConfig{Name: cc.Name, Type: cc.Type, File: cc.File, Raw: cc.Raw, Logger: slog.New(slog.DiscardHandler)}
		if ct.Check != nil {
			w, err := ct.Check(in)
			warnings = append(warnings, w...)
			if err != nil {
				errs = append(errs, fmt.Errorf("connector %q: %w", cc.Name, err))
			}
			continue
		}
		if _, err := ct.New(in); err != nil {
			errs = append(errs, fmt.Errorf("connector %q: %w", cc.Name, err))
		}
	}
	return warnings, errors.Join(errs...)
}
