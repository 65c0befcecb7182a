package runtime

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/provision"
	"github.com/tbgateway/tbgateway/report"
	"github.com/tbgateway/tbgateway/uplink"
)

// plan is everything the gateway builds from a configuration without I/O. New runs from a plan and
// CheckConfig reports one, so that check-config and a start always agree: an error CheckConfig reports is either
// one that stops New (err of makePlan) or one connector that New reports failed, and the warnings are the same.
type plan struct {
	resolver *report.Resolver
	uplink   uplink.Config
	// credentials says where the link's credentials come from (uplink holds stand-ins before a provisioning).
	credentials *provision.Plan
	connectors  []connectorPlan
}

// connectorPlan is one configured connector: the built connector, or why it cannot run.
type connectorPlan struct {
	cfg config.Connector
	log *slog.Logger
	// impl is the connector, nil when it is unsupported or failed.
	impl tbgateway.Connector
	// rules are the report strategies of its file and of its devices.
	rules map[report.Scope]report.Strategy
	// warnings are the connector's own (unknown keys, ignored settings), each naming the file.
	warnings []string
	// unsupported says the type is not built in: a warning, and the connector is skipped.
	unsupported bool
	// err is why the connector cannot run: its file is missing or invalid, or its type rejects its settings. It
	// names the file and the key.
	err error
}

// makePlan decodes and validates cfg with every connector, without network I/O (it reads the saved credentials
// file, see provision.Resolve). The error is one that stops the whole
// gateway (the main file's report strategy, the ThingsBoard link's settings); an invalid connector stops only
// itself and is kept in its connectorPlan. logger names each connector's logger.
func makePlan(cfg *config.Config, logger *slog.Logger) (*plan, error) {
	global, err := report.Config{
		Type:         cfg.Thingsboard.ReportStrategy.Type,
		ReportPeriod: floatPtr(float64(cfg.Thingsboard.ReportStrategy.ReportPeriodMS)),
		TTL:          floatPtr(float64(cfg.Thingsboard.ReportStrategy.TTLSeconds)),
	}.Strategy()
	if err != nil {
		return nil, fmt.Errorf("%s: thingsboard.reportStrategy.%w", cfg.File, err)
	}
	// Credentials as the Python gateway finds them: thingsboard.security, the saved .credentials, or a
	// provisioning at start (checked here with stand-in credentials of the type it brings).
	creds, err := provision.Resolve(cfg)
	if err != nil {
		return nil, err
	}
	p := &plan{resolver: &report.Resolver{Global: global, Rules: map[report.Scope]report.Strategy{}},
		uplink: linkConfig(cfg, creds), credentials: creds}
	if err := p.uplink.Validate(); err != nil {
		return nil, fmt.Errorf("%s: thingsboard: %w", cfg.File, err)
	}
	for _, cc := range cfg.Connectors {
		cp := connectorPlan{cfg: cc, log: connectorLogger(logger, cc)}
		rules, err := cp.build()
		cp.rules = rules
		if err == nil {
			for sc, s := range rules {
				p.resolver.Rules[sc] = s
			}
		}
		cp.err = err
		p.connectors = append(p.connectors, cp)
	}
	return p, nil
}

// build decodes the connector as check-config and the running gateway both do: the type's ConfigChecker for the
// warnings, the factory, then the report strategies of its file and of its devices. It returns those strategies.
func (cp *connectorPlan) build() (map[report.Scope]report.Strategy, error) {
	cc := cp.cfg
	if cc.Err != nil {
		return nil, cc.Err
	}
	ct, ok, classWarning, err := connectorType(cc)
	if err != nil {
		return nil, err
	}
	if !ok {
		cp.unsupported = true
		return nil, nil
	}
	in := tbgateway.ConnectorConfig{Name: cc.Name, Type: ct.Type, File: cc.File, Raw: cc.Raw, Logger: cp.log}
	if classWarning != "" {
		cp.warnings = append(cp.warnings, classWarning)
	}
	if ct.Check != nil {
		w, err := ct.Check(in)
		cp.warnings = append(cp.warnings, w...)
		if err != nil {
			return nil, err
		}
	}
	impl, err := ct.New(in)
	if err != nil {
		return nil, err
	}
	rules := map[report.Scope]report.Strategy{}
	if raw, ok := connectorRawReportStrategy(cc.Raw); ok {
		s, err := report.ParseConfig(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: reportStrategy.%w", cc.File, err)
		}
		rules[report.Scope{Connector: cc.Name}] = s
	}
	if src, ok := impl.(tbgateway.ReportStrategySource); ok {
		for _, rule := range src.ReportStrategies() {
			s, err := report.ParseConfig(rule.Config)
			if err != nil {
				return nil, fmt.Errorf("%s: device %q key %q: reportStrategy.%w", cc.File, rule.Device, rule.Key, err)
			}
			rules[report.Scope{Connector: cc.Name, Device: rule.Device, Key: rule.Key}] = s
		}
	}
	cp.impl = impl
	return rules, nil
}

// report returns the plan as check-config shows it: the warnings, and the errors joined, each naming its file.
func (p *plan) report() ([]string, error) {
	var warnings []string
	var errs []error
	for _, cp := range p.connectors {
		if cp.unsupported {
			warnings = append(warnings, unsupportedMessage(cp.cfg.Type))
		}
		warnings = append(warnings, cp.warnings...)
		if cp.err != nil {
			errs = append(errs, fmt.Errorf("connector %q: %w", cp.cfg.Name, cp.err))
		}
	}
	return warnings, errors.Join(errs...)
}

func unsupportedMessage(typ string) string {
	return fmt.Sprintf("connector type %s is not supported yet", typ)
}

func floatPtr(f float64) *float64 { return &f }
