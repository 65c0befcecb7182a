package mqtt

import (
	"strings"

	tbgateway "github.com/tbgateway/tbgateway"
)

var _ tbgateway.ReportStrategySource = (*Connector)(nil)

// ReportStrategies returns the report strategies the configuration sets below the connector file's
// "reportStrategy": a key's "reportStrategy" applies to that key of every device of the connector (keys written
// as plain text only), and a converter's "reportStrategy" (or "sendDataOnlyOnChange": true) to its device when
// the device name is a constant, else to each plain-text key of the converter that has no strategy of its own.
// The root's "sendDataOnlyOnChange": true, without a root "reportStrategy", is ON_CHANGE for the whole connector.
// Strategies that depend on the payload (a ${...} key with a device name from the message or the topic) cannot
// be known before data arrives and are not returned.
func (c *Connector) ReportStrategies() []tbgateway.ReportStrategyRule {
	var out []tbgateway.ReportStrategyRule
	if c.cfg.OnlyOnChange {
		out = append(out, tbgateway.ReportStrategyRule{Config: onChange})
	}
	for _, m := range c.cfg.Mapping {
		conv := m.Converter
		constant := conv.DeviceInfo.NameSource == SourceConstant && !strings.Contains(conv.DeviceInfo.NameExpression, "${")
		if len(conv.ReportStrategy) > 0 && constant {
			out = append(out, tbgateway.ReportStrategyRule{Device: conv.DeviceInfo.NameExpression, Config: conv.ReportStrategy})
		}
		for _, list := range [][]DatapointConfig{conv.Attributes, conv.Timeseries} {
			for _, d := range list {
				if strings.Contains(d.Key, "${") || d.KeySource == SourceTopic {
					continue
				}
				switch {
				case len(d.ReportStrategy) > 0:
					out = append(out, tbgateway.ReportStrategyRule{Key: d.Key, Config: d.ReportStrategy})
				case len(conv.ReportStrategy) > 0 && !constant:
					out = append(out, tbgateway.ReportStrategyRule{Key: d.Key, Config: conv.ReportStrategy})
				}
			}
		}
	}
	return out
}
