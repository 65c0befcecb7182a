package runtime

import (
	"fmt"
	"os"
	"regexp"
	"sync"
	"sync/atomic"

	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/internal/confjson"
)

// DeviceFilter decides which devices' records the gateway accepts, from the Python gateway's filter file
// (list.json): {"deny": {connector name: [regex, ...]}, "allow": {connector name: [regex, ...]}}. A connector is
// matched by its name exactly; a device name must match a regex in full (Python's re.fullmatch), evaluated with
// Go's RE2 syntax.
//
// Semantics: a device denied for its connector is always refused (deny wins over allow); when "allow" lists
// patterns for the connector, only the devices matching one of them pass; otherwise every device not denied
// passes. (The Python gateway applies only "deny"; its "allow" has no effect.) A nil *DeviceFilter allows all.
type DeviceFilter struct {
	deny, allow map[string][]*regexp.Regexp
}

// Allows reports whether the records of device, produced by the connector named connector, may pass.
func (f *DeviceFilter) Allows(connector, device string) bool {
	if f == nil {
		return true
	}
	for _, re := range f.deny[connector] {
		if re.MatchString(device) {
			return false
		}
	}
	allow, listed := f.allow[connector]
	if !listed || len(allow) == 0 {
		return true
	}
	for _, re := range allow {
		if re.MatchString(device) {
			return true
		}
	}
	return false
}

// ParseDeviceFilter decodes a filter file's content; file names it in errors, which name the key of the bad
// entry (e.g. `deny["MQTT Broker Connector"][1]`). Keys other than deny and allow are warnings.
func ParseDeviceFilter(file string, data []byte) (*DeviceFilter, []string, error) {
	d := confjson.New(file)
	root, err := d.Root(data)
	if err != nil {
		return nil, nil, err
	}
	f := &DeviceFilter{deny: map[string][]*regexp.Regexp{}, allow: map[string][]*regexp.Regexp{}}
	for _, section := range []string{"deny", "allow"} {
		dst := f.deny
		if section == "allow" {
			dst = f.allow
		}
		root.Sub(section, func(o *confjson.Object) {
			for _, connector := range o.Keys() {
				o.Each(connector, func(path string, item any) {
					s, ok := item.(string)
					if !ok {
						d.Fail(path, "a regular expression (a string)", item)
						return
					}
					re, err := regexp.Compile(`^(?:` + s + `)$`)
					if err != nil {
						d.Failf(path, "invalid regular expression %q: %v", s, err)
						return
					}
					dst[connector] = append(dst[connector], re)
				})
			}
		})
	}
	root.Done()
	if err := d.Err(); err != nil {
		return nil, nil, err
	}
	return f, d.WarningStrings(), nil
}

// loadDeviceFilter reads the filter file that thingsboard.deviceFiltering names (relative to the main file's
// folder), or returns nil when filtering is off. A missing or invalid file is an error naming the file and key.
func loadDeviceFilter(cfg *config.Config) (*DeviceFilter, []string, error) {
	df := cfg.Thingsboard.DeviceFiltering
	if !df.Enable {
		return nil, nil, nil
	}
	if df.FilterFile == "" {
		return nil, nil, &config.Error{File: cfg.File, Path: "thingsboard.deviceFiltering.filterFile", Found: "nothing",
			Expected: "the device filter file (e.g. list.json) while deviceFiltering.enable is true"}
	}
	path := resolvePath(cfg.Dir, df.FilterFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: thingsboard.deviceFiltering.filterFile: reading the device filter: %w", cfg.File, err)
	}
	return ParseDeviceFilter(path, data)
}

// maxFilteredLogged bounds the device names remembered so that each filtered device is logged once.
const maxFilteredLogged = 10000

// filterState is the gateway's device filter with its counter and the devices already logged.
type filterState struct {
	filter   atomic.Pointer[DeviceFilter] // nil: filtering off; replaced whole when the configuration changes
	filtered atomic.Uint64                // records dropped by the device filter, all connectors

	mu     sync.Mutex
	logged map[string]bool // connector + "\x00" + device
}

// filterDrops reports whether the filter refuses the device's record; a refused record is counted, and the first one
// of each device is logged.
func (g *Gateway) filterDrops(c *runningConnector, device string) bool {
	fs := &g.devFilter
	if fs.filter.Load().Allows(c.name, device) {
		return false
	}
	fs.filtered.Add(1)
	c.stats.filtered.Add(1)
	key := c.name + "\x00" + device
	fs.mu.Lock()
	first := !fs.logged[key] && len(fs.logged) < maxFilteredLogged
	if first {
		if fs.logged == nil {
			fs.logged = map[string]bool{}
		}
		fs.logged[key] = true
	}
	fs.mu.Unlock()
	if first {
		c.log.Warn("device filtered: its records are dropped (deviceFiltering)", "device", device)
	}
	return true
}

// FilteredRecords returns how many records the device filter dropped since the start, all connectors.
func (g *Gateway) FilteredRecords() uint64 { return g.devFilter.filtered.Load() }

// applyDeviceFilter loads the device filter that cfg configures and puts it in place (none when filtering is
// off), logging the file's warnings. On error the filter in place is kept and the error names the file and key.
func (g *Gateway) applyDeviceFilter(cfg *config.Config) error {
	f, warns, err := loadDeviceFilter(cfg)
	for _, w := range warns {
		g.log.Warn("config", "warning", w)
	}
	if err != nil {
		return err
	}
	g.devFilter.filter.Store(f)
	if f != nil {
		g.log.Info("device filtering on", "file", resolvePath(cfg.Dir, cfg.Thingsboard.DeviceFiltering.FilterFile))
	}
	return nil
}
