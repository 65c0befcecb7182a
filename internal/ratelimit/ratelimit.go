// Package ratelimit parses ThingsBoard's rate-limit strings ("cap:seconds,cap:seconds"), as written in the
// gateway's config (thingsboard.rateLimits and its twins, TB_GW_*_RATE_LIMITS) and as the server announces them
// (getSessionLimits). It is the one parser of that syntax: check-config, the runtime and the uplink all use it, so
// a value one accepts is accepted by all.
package ratelimit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Window is one term of a rate limit: at most Cap messages (or data points) per Per.
type Window struct {
	Cap int
	Per time.Duration
}

// placeholders are the names the Python gateway's sample configs carry instead of numbers. The Python SDK turns
// them into host-dependent defaults or no limit; here they mean "nothing configured": the server's
// getSessionLimits answer decides.
var placeholders = map[string]bool{
	"DEFAULT_TELEMETRY_RATE_LIMIT":    true,
	"DEFAULT_TELEMETRY_DP_RATE_LIMIT": true,
	"DEFAULT_MESSAGES_RATE_LIMIT":     true,
	"DEFAULT_RATE_LIMIT":              true,
}

// maxWindow bounds a window's length (one year) so it converts to a time.Duration without overflow.
const maxWindow = 365 * 24 * 3600

// IsPlaceholder reports whether s is one of ThingsBoard's DEFAULT_*_RATE_LIMIT placeholder names.
func IsPlaceholder(s string) bool {
	return placeholders[strings.TrimSpace(s)]
}

// Parse parses "cap:seconds,cap:seconds", e.g. "10:1,300:60", as the Python gateway's SDK does: "," or ";"
// separates windows, blanks and empty entries are skipped, "0:0" (alone or as an entry) means no limit, and a
// later window of the same length replaces an earlier one. An empty string or a placeholder name returns nil,
// nil: no limit configured. Anything else is an error naming the entry: cap and seconds must be integers, cap >= 1
// and seconds 1 to one year.
func Parse(s string) ([]Window, error) {
	s = strings.TrimSpace(s)
	if s == "" || IsPlaceholder(s) {
		return nil, nil
	}
	var out []Window
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
		if capN < 1 || sec < 1 || sec > maxWindow {
			return nil, fmt.Errorf("rate limit %q: cap must be >= 1 and seconds 1-%d", part, maxWindow)
		}
		w := Window{Cap: capN, Per: time.Duration(sec) * time.Second}
		replaced := false
		for i := range out {
			if out[i].Per == w.Per {
				out[i], replaced = w, true
			}
		}
		if !replaced {
			out = append(out, w)
		}
	}
	return out, nil
}
