package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RateLimit is one window of a ThingsBoard rate limit: at most Cap messages (or data points) per Per.
type RateLimit struct {
	Cap int
	Per time.Duration
}

// rateLimitPlaceholders are the names the Python gateway's sample configs carry instead of numbers. The Python
// SDK turns them into host-dependent defaults (thingsboard.cloud, demo.thingsboard.io) or no limit; here they
// mean "no limit configured" and the server's getSessionLimits answer decides.
var rateLimitPlaceholders = map[string]bool{
	"DEFAULT_TELEMETRY_RATE_LIMIT":    true,
	"DEFAULT_TELEMETRY_DP_RATE_LIMIT": true,
	"DEFAULT_MESSAGES_RATE_LIMIT":     true,
	"DEFAULT_RATE_LIMIT":              true,
}

// maxRateWindow bounds a window's length (one year) so it converts to a time.Duration without overflow.
const maxRateWindow = 365 * 24 * 3600

// IsRateLimitPlaceholder reports whether s is one of ThingsBoard's DEFAULT_*_RATE_LIMIT placeholder names.
func IsRateLimitPlaceholder(s string) bool {
	return rateLimitPlaceholders[strings.TrimSpace(s)]
}

// ParseRateLimits parses ThingsBoard's "cap:seconds,cap:seconds" form, e.g. "10:1,300:60". As in the Python SDK,
// ";" also separates windows, blanks and empty entries are skipped, and "0:0" (alone or as an entry) means no
// limit. A placeholder name or an empty string returns nil, nil: no limit configured. A later window with the
// same length replaces an earlier one. Any other text is an error; cap and seconds must be integers >= 1.
func ParseRateLimits(s string) ([]RateLimit, error) {
	s = strings.TrimSpace(s)
	if s == "" || IsRateLimitPlaceholder(s) {
		return nil, nil
	}
	var out []RateLimit
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' }) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		capText, secText, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("rate limit %q: want cap:seconds", part)
		}
		capN, err1 := strconv.Atoi(strings.TrimSpace(capText))
		sec, err2 := strconv.Atoi(strings.TrimSpace(secText))
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("rate limit %q: cap and seconds must be integers", part)
		}
		if capN == 0 && sec == 0 {
			continue
		}
		if capN < 1 || sec < 1 || sec > maxRateWindow {
			return nil, fmt.Errorf("rate limit %q: cap must be >= 1 and seconds 1-%d", part, maxRateWindow)
		}
		rl := RateLimit{Cap: capN, Per: time.Duration(sec) * time.Second}
		replaced := false
		for i := range out {
			if out[i].Per == rl.Per {
				out[i], replaced = rl, true
			}
		}
		if !replaced {
			out = append(out, rl)
		}
	}
	return out, nil
}
