package mqtt

import (
	"strings"

	tbgateway "github.com/tbgateway/tbgateway"
)

var _ tbgateway.ReportStrategySource = (*Connector)(nil)

// ReportStrategies returns the report strategies the mapping sets below the connector level: a key's
// "reportStrategy" applies to that key of every device of the connector (keys written as plain text only), and
// a converter's "reportStrategy" to its device when the device name is a constant. Strategies that depend on
// the payload (a ${...} key or device name) cannot be known before data arrives and are not returned.
func (c *Connector) ReportStrategies() []tbgateway.ReportStrategyRule {
	var out []tbgateway.ReportStrategyRule
	for _, m := range c.cfg.Mapping {
		conv := m.Converter
		if len(conv.ReportStrategy) > 0 && conv.DeviceInfo.NameSource == SourceConstant && !strings.Contains(conv.DeviceInfo.NameExpression, "${") {
			out = append(out, tbgateway.ReportStrategyRule{Device: conv.DeviceInfo.NameExpression, Config: conv.ReportStrategy})
		}
		for _, list := range [][]DatapointConfig{conv.Attributes, conv.Timeseries} {
			for _, d := range list {
				if len(d.ReportStrategy) > 0 && !strings.Contains(d.Key, "${") {
					out = append(out, tbgateway.ReportStrategyRule{Key: d.Key, Config: d.ReportStrategy})
				}
			}
		}
	}
	return out
}
