package simulator

import tbgateway "github.com/tbgateway/tbgateway"

var _ tbgateway.ReportStrategySource = (*Simulator)(nil)

// ReportStrategies returns the device- and key-level "reportStrategy" objects of the configuration; the runtime
// applies them (the connector-wide one it reads from the file itself).
func (s *Simulator) ReportStrategies() []tbgateway.ReportStrategyRule {
	var rules []tbgateway.ReportStrategyRule
	for _, d := range s.devices {
		if len(d.cfg.ReportStrategy) > 0 {
			rules = append(rules, tbgateway.ReportStrategyRule{Device: d.cfg.DeviceName, Config: d.cfg.ReportStrategy})
		}
		for _, se := range d.series {
			if len(se.cfg.ReportStrategy) > 0 {
				rules = append(rules, tbgateway.ReportStrategyRule{Device: d.cfg.DeviceName, Key: se.cfg.Key, Config: se.cfg.ReportStrategy})
			}
		}
	}
	return rules
}
