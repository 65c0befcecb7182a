// Package report implements the Python gateway's report strategies: which values a connector produced are
// forwarded to storage, and which are cached and re-sent periodically.
//
//   - ON_RECEIVED (and DISABLED): every value is forwarded as it is.
//   - ON_CHANGE: a value is forwarded only when it differs from the last value seen for the same key (numbers
//     are equal when they differ by less than 0.001); the first value is always forwarded.
//   - ON_REPORT_PERIOD: the first value is forwarded; later values are only cached, and the last value is re-sent
//     once every period with the timestamp of the re-send.
//   - ON_CHANGE_OR_REPORT_PERIOD: ON_CHANGE plus the periodic re-send of ON_REPORT_PERIOD; forwarding a change does
//     not move the period.
//
// Values are cached per (connector, device, attribute or telemetry, key). A Resolver says which Strategy applies
// to a key; a Filter applies it to records (Apply) and runs the periodic re-sends (Run).
package report

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Type names a report strategy as written in the Python gateway's configuration ("type").
type Type string

// The strategy types. Matching of configured names is case-insensitive.
const (
	// Disabled forwards everything; the filter keeps no state (same effect as OnReceived).
	Disabled Type = "DISABLED"
	// OnReceived forwards every value.
	OnReceived Type = "ON_RECEIVED"
	// OnChange forwards a value only when it changed.
	OnChange Type = "ON_CHANGE"
	// OnReportPeriod forwards the first value and then re-sends the latest value once per period.
	OnReportPeriod Type = "ON_REPORT_PERIOD"
	// OnChangeOrReportPeriod forwards changes and also re-sends the latest value once per period.
	OnChangeOrReportPeriod Type = "ON_CHANGE_OR_REPORT_PERIOD"
)

// DefaultPeriod is the Python gateway's default reportPeriod (10000 ms).
const DefaultPeriod = 10 * time.Second

// Strategy is the report strategy of one key.
type Strategy struct {
	// Type is the strategy; empty means OnReceived.
	Type Type
	// Period is the re-send period of OnReportPeriod and OnChangeOrReportPeriod; it must be positive for those.
	Period time.Duration
	// TTL forgets a cached value that has not been received again for this long (the next value then counts as a
	// first value); zero keeps cached values for as long as the filter lives.
	TTL time.Duration
}

// periodic says whether the strategy re-sends cached values.
func (s Strategy) periodic() bool {
	return s.Type == OnReportPeriod || s.Type == OnChangeOrReportPeriod
}

// passThrough says whether the strategy forwards everything without caching.
func (s Strategy) passThrough() bool {
	return s.Type == "" || s.Type == OnReceived || s.Type == Disabled
}

// Validate checks the type and, for periodic strategies, the period.
func (s Strategy) Validate() error {
	switch s.Type {
	case "", Disabled, OnReceived, OnChange:
	case OnReportPeriod, OnChangeOrReportPeriod:
		if s.Period <= 0 {
			return fmt.Errorf("report strategy %s: period %v is not positive", s.Type, s.Period)
		}
	default:
		return fmt.Errorf("unknown report strategy type %q", string(s.Type))
	}
	if s.TTL < 0 {
		return fmt.Errorf("report strategy %s: ttl %v is negative", s.Type, s.TTL)
	}
	return nil
}

// Config is a "reportStrategy" object of the Python gateway's configuration, at any level (main config,
// connector, device, key): {"type": "ON_CHANGE", "reportPeriod": 5000, "ttl": 60}.
type Config struct {
	// Type is the strategy name, case-insensitive; empty means ON_RECEIVED.
	Type string `json:"type"`
	// ReportPeriod is the period in milliseconds; nil means DefaultPeriod.
	ReportPeriod *float64 `json:"reportPeriod,omitempty"`
	// TTL is the cache lifetime in seconds; nil or zero means no expiry.
	TTL *float64 `json:"ttl,omitempty"`
	// AggregationFunction is accepted for compatibility; the Python gateway does not implement it either.
	AggregationFunction string `json:"aggregationFunction,omitempty"`
}

// Strategy converts the configuration into a validated Strategy. Errors name the offending key ("type",
// "reportPeriod", "ttl"). The period is used as given (the Python gateway subtracts 10 ms to make up for its
// 10 ms polling loop; this filter's timers are exact).
func (c Config) Strategy() (Strategy, error) {
	s := Strategy{Type: Type(strings.ToUpper(strings.TrimSpace(c.Type))), Period: DefaultPeriod}
	if s.Type == "" {
		s.Type = OnReceived
	}
	switch s.Type {
	case Disabled, OnReceived, OnChange, OnReportPeriod, OnChangeOrReportPeriod:
	default:
		return Strategy{}, fmt.Errorf("type: unknown report strategy %q (want ON_RECEIVED, ON_CHANGE, ON_REPORT_PERIOD, ON_CHANGE_OR_REPORT_PERIOD or DISABLED)", c.Type)
	}
	if c.ReportPeriod != nil {
		if *c.ReportPeriod <= 0 {
			return Strategy{}, fmt.Errorf("reportPeriod: %v ms is not positive", *c.ReportPeriod)
		}
		s.Period = time.Duration(*c.ReportPeriod * float64(time.Millisecond))
	}
	if c.TTL != nil {
		if *c.TTL < 0 {
			return Strategy{}, fmt.Errorf("ttl: %v s is negative", *c.TTL)
		}
		s.TTL = time.Duration(*c.TTL * float64(time.Second))
	}
	return s, nil
}

// ParseConfig decodes a "reportStrategy" JSON object and returns its Strategy; see Config.Strategy.
func ParseConfig(raw json.RawMessage) (Strategy, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return Strategy{}, fmt.Errorf("decode report strategy: %w", err)
	}
	return c.Strategy()
}

// Scope selects what a Resolver rule applies to. Connector is a connector name and is always set in a rule;
// Device and Key narrow it to one device and/or one key (empty means any).
type Scope struct {
	Connector string
	Device    string
	Key       string
}

// Resolver decides which Strategy applies to a key, the most specific rule winning: key on that device, key on
// any device of the connector, device, connector, then Global. A Resolver is read-only once a Filter uses it.
type Resolver struct {
	// Global is the main config's thingsboard.reportStrategy; the zero value forwards everything.
	Global Strategy
	// Rules maps scopes to strategies.
	Rules map[Scope]Strategy
}

// Resolve returns the strategy for key of device, produced by connector.
func (r *Resolver) Resolve(connector, device, key string) Strategy {
	if r == nil {
		return Strategy{}
	}
	for _, sc := range [...]Scope{
		{connector, device, key},
		{connector, "", key},
		{connector, device, ""},
		{connector, "", ""},
	} {
		if s, ok := r.Rules[sc]; ok {
			return s
		}
	}
	return r.Global
}

// Validate checks every strategy of the resolver; errors name the scope.
func (r *Resolver) Validate() error {
	if err := r.Global.Validate(); err != nil {
		return fmt.Errorf("global: %w", err)
	}
	for sc, s := range r.Rules {
		if sc.Connector == "" {
			return fmt.Errorf("rule for device %q key %q: no connector", sc.Device, sc.Key)
		}
		if err := s.Validate(); err != nil {
			return fmt.Errorf("connector %q device %q key %q: %w", sc.Connector, sc.Device, sc.Key, err)
		}
	}
	return nil
}
