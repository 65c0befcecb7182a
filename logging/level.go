package logging

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
)

// The levels the Python gateway adds to slog's DEBUG, INFO, WARN and ERROR. Python's numeric levels map linearly
// (slog = (python − 20) × 2/5): TRACE 5 is −6, CRITICAL 50 is 12.
const (
	LevelTrace    = slog.Level(-6)
	LevelCritical = slog.Level(12)
	// LevelNone lets nothing through (Python's NONE, 100 and above).
	LevelNone = slog.Level(math.MaxInt32)
	// LevelAll lets everything through (Python's NOTSET, 0).
	LevelAll = slog.Level(math.MinInt32)
)

// ParseLevel reads a level as the Python gateway accepts one: a name (NONE, CRITICAL or FATAL, ERROR, WARNING or
// WARN, INFO, DEBUG, TRACE, NOTSET; any case) or a Python number (0 NOTSET … 50 CRITICAL, 100 NONE).
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "NONE":
		return LevelNone, nil
	case "CRITICAL", "FATAL":
		return LevelCritical, nil
	case "ERROR":
		return slog.LevelError, nil
	case "WARNING", "WARN":
		return slog.LevelWarn, nil
	case "INFO":
		return slog.LevelInfo, nil
	case "DEBUG":
		return slog.LevelDebug, nil
	case "TRACE":
		return LevelTrace, nil
	case "NOTSET":
		return LevelAll, nil
	}
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return fromPython(n), nil
	}
	return 0, fmt.Errorf("%q is not a log level (NONE, CRITICAL, ERROR, WARNING, INFO, DEBUG, TRACE or NOTSET)", s)
}

// fromPython maps a Python numeric level.
func fromPython(n int) slog.Level {
	switch {
	case n <= 0:
		return LevelAll
	case n >= 100:
		return LevelNone
	}
	return slog.Level((n - 20) * 2 / 5)
}

// levelJSON reads a level from a logs.json value: a name or a number.
func levelJSON(raw json.RawMessage) (slog.Level, error) {
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		return fromPython(n), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("%s is not a log level (a name or a number)", raw)
	}
	return ParseLevel(s)
}

// LevelName is the Python gateway's name of a level: TRACE, DEBUG, INFO, WARNING, ERROR or CRITICAL.
func LevelName(l slog.Level) string {
	switch {
	case l >= LevelCritical:
		return "CRITICAL"
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	case l >= slog.LevelDebug:
		return "DEBUG"
	}
	return "TRACE"
}
