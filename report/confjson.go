package report

import (
	"encoding/json"

	"github.com/tbgateway/tbgateway/internal/confjson"
)

// Read returns the "reportStrategy"-shaped object at key of a connector file as JSON, nil when absent, after
// checking it as ParseConfig does; an invalid strategy is recorded on o's decoder naming the key path
// ("devices[0].reportStrategy: type: unknown report strategy ..."). Connectors return the JSON through
// tbgateway.ReportStrategySource.
func Read(o *confjson.Object, key string) json.RawMessage {
	raw := o.Raw(key)
	if raw == nil || o.Decoder() == nil || o.Decoder().Failed() {
		return raw
	}
	if _, ok := o.Map()[key].(map[string]any); !ok {
		o.Decoder().Fail(o.Key(key), "a report strategy object", o.Map()[key])
		return nil
	}
	if _, err := ParseConfig(raw); err != nil {
		o.Decoder().Failf(o.Key(key), "%v", err)
		return nil
	}
	return raw
}
