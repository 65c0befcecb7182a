package runtime

import (
	"errors"
	"log/slog"

	"github.com/tbgateway/tbgateway/config"
)

// CheckConfig validates the configuration at path without connecting anywhere: the main file, every connector
// file, and each built-in connector's own settings, through the same code the gateway runs at start. It returns
// the warnings (unknown keys, ignored settings, connector types not supported yet) and the errors found, joined;
// each names its file and key. An error here is one that stops the gateway at start, or one connector that the
// running gateway reports failed while the others run; the warnings are the ones the gateway logs at start.
func CheckConfig(path string, env func(string) string) ([]string, error) {
	cfg, warns, err := config.Load(path, env)
	warnings := make([]string, 0, len(warns))
	for _, w := range warns {
		warnings = append(warnings, w.String())
	}
	if err != nil {
		return warnings, err
	}
	p, err := makePlan(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return warnings, err
	}
	cw, err := p.report()
	warnings = append(warnings, cw...)
	_, fw, ferr := loadDeviceFilter(cfg)
	return append(warnings, fw...), errors.Join(err, ferr)
}
