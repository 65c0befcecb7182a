package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// FileName is the logging configuration's file name in the config folder (the Python gateway's).
const FileName = "logs.json"

// Handler kinds of the logs.json subset.
const (
	KindStream = "stream" // logging.StreamHandler: stdout or stderr
	KindFile   = "file"   // logging.FileHandler
	KindSize   = "size"   // logging.handlers.RotatingFileHandler: maxBytes, backupCount
	KindTimed  = "timed"  // TimedRotatingFileHandler (logging.handlers and the Python gateway's): when, interval, backupCount, maxBytes
	KindNull   = "null"   // logging.NullHandler
)

// handlerClasses maps the Python handler classes of the subset to their kinds.
var handlerClasses = map[string]string{
	"logging.StreamHandler":                     KindStream,
	"logging.FileHandler":                       KindFile,
	"logging.handlers.RotatingFileHandler":      KindSize,
	"logging.handlers.TimedRotatingFileHandler": KindTimed,
	"logging.handlers.WatchedFileHandler":       KindFile,
	"logging.NullHandler":                       KindNull,
	"thingsboard_gateway.tb_utility.tb_rotating_file_handler.TimedRotatingFileHandler": KindTimed,
}

// loggerCategories maps the Python logger names to the gateway's categories ("database" is the sqlite storage's
// logger, "converter" the connectors' converters').
var loggerCategories = map[string]Category{
	"service": Service, "tb_connection": Connection, "storage": Storage, "database": Storage,
	"extension": Extension, "connector": Connector, "converter": Connector,
}

// FileConfig is the part of a logs.json (Python's logging.config.dictConfig schema) the gateway applies.
type FileConfig struct {
	// File names the configuration in messages ("logs.json", or the shared attribute).
	File     string
	Handlers map[string]HandlerConfig
	// Loggers are the loggers the gateway has, by Python name.
	Loggers map[string]LoggerConfig
	// Root is the root logger; loggers that propagate also write to its handlers.
	Root LoggerConfig
}

// HandlerConfig is one handler of the subset.
type HandlerConfig struct {
	Kind        string
	Stream      string // KindStream: "stdout" or "stderr"
	Filename    string // file kinds, as written (relative to the config folder)
	Level       slog.Level
	MaxBytes    int64  // KindSize, KindTimed: rotate at this size (0: never on size)
	BackupCount int    // rotated files kept (0: all)
	When        string // KindTimed: S, M, H, D, MIDNIGHT or W0..W6
	Interval    int    // KindTimed: periods of When between rotations
}

// LoggerConfig is one logger: its level and handlers.
type LoggerConfig struct {
	Level     slog.Level
	Handlers  []string
	Propagate bool
}

// ReadFile reads dir/logs.json. A missing file is (nil, nil, nil).
func ReadFile(dir string) (*FileConfig, []string, error) {
	path := filepath.Join(dir, FileName)
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return Decode(raw, path)
}

// Decode reads a logs.json document. file names it in the errors and warnings. Errors are what the Python gateway
// refuses too (not an object, a bad level, a logger naming a handler that does not exist, a file handler without
// filename); warnings name every handler and key outside the subset, which are ignored.
func Decode(raw []byte, file string) (*FileConfig, []string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, nil, fmt.Errorf("%s: not a JSON object: %w", file, err)
	}
	c := &FileConfig{File: file, Handlers: map[string]HandlerConfig{}, Loggers: map[string]LoggerConfig{},
		Root: LoggerConfig{Level: slog.LevelWarn, Handlers: []string{}}}
	var warns []string
	warn := func(format string, a ...any) { warns = append(warns, file+": "+fmt.Sprintf(format, a...)) }
	for _, k := range slices.Sorted(maps.Keys(top)) {
		v := top[k]
		var err error
		switch k {
		case "version":
			if string(bytes.TrimSpace(v)) != "1" {
				err = fmt.Errorf("version: %s is not supported (only 1)", v)
			}
		case "disable_existing_loggers", "ts":
		case "formatters":
			var fs map[string]json.RawMessage
			_ = json.Unmarshal(v, &fs)
			if len(fs) > 0 {
				warn("formatters %s: format strings are not applied; lines are written in the gateway's format (--log-format)", strings.Join(slices.Sorted(maps.Keys(fs)), ", "))
			}
		case "handlers":
			err = c.decodeHandlers(v, warn)
		case "loggers":
			err = c.decodeLoggers(v, warn)
		case "root":
			c.Root, err = decodeLogger(v, "root", warn)
			c.Root.Propagate = false
		default:
			warn("%s: not supported; ignored", k)
		}
		if err != nil {
			return nil, warns, fmt.Errorf("%s: %w", file, err)
		}
	}
	for name, lg := range c.allLoggers() {
		for _, h := range lg.Handlers {
			if _, ok := c.Handlers[h]; !ok {
				return nil, warns, fmt.Errorf("%s: %s.handlers: no handler %q in handlers", file, name, h)
			}
		}
	}
	return c, warns, nil
}

// allLoggers are the loggers and root, by their key path.
func (c *FileConfig) allLoggers() map[string]LoggerConfig {
	m := map[string]LoggerConfig{"root": c.Root}
	for n, l := range c.Loggers {
		m["loggers."+n] = l
	}
	return m
}

func (c *FileConfig) decodeHandlers(v json.RawMessage, warn func(string, ...any)) error {
	var hs map[string]map[string]json.RawMessage
	if err := json.Unmarshal(v, &hs); err != nil {
		return fmt.Errorf("handlers: want an object of handler objects: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(hs)) {
		h, ok, err := decodeHandler(hs[name], "handlers."+name, warn)
		if err != nil {
			return err
		}
		if ok {
			c.Handlers[name] = h
		} else {
			// Loggers may still name it; it writes nothing.
			c.Handlers[name] = HandlerConfig{Kind: KindNull}
		}
	}
	return nil
}

// decodeHandler reads one handler; ok is false for a class outside the subset (warned, ignored).
func decodeHandler(m map[string]json.RawMessage, path string, warn func(string, ...any)) (HandlerConfig, bool, error) {
	h := HandlerConfig{Level: LevelAll, Interval: 1, When: "H", Stream: "stderr"}
	var class string
	if err := json.Unmarshal(m["class"], &class); err != nil || class == "" {
		return h, false, fmt.Errorf("%s.class: missing or not a string", path)
	}
	h.Kind, _ = handlerClasses[class]
	if h.Kind == "" {
		warn("%s: class %s is not supported; the handler writes nothing", path, class)
		return h, false, nil
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		var err error
		switch k {
		case "class", "formatter":
		case "level":
			h.Level, err = levelJSON(v)
		case "stream":
			var s string
			err = json.Unmarshal(v, &s)
			switch s {
			case "ext://sys.stdout":
				h.Stream = "stdout"
			case "ext://sys.stderr":
				h.Stream = "stderr"
			default:
				warn("%s.stream: %s is not supported (ext://sys.stdout or ext://sys.stderr); stderr is used", path, v)
			}
		case "filename":
			err = json.Unmarshal(v, &h.Filename)
		case "maxBytes":
			err = json.Unmarshal(v, &h.MaxBytes)
		case "backupCount":
			err = json.Unmarshal(v, &h.BackupCount)
		case "interval":
			err = json.Unmarshal(v, &h.Interval)
		case "when":
			err = json.Unmarshal(v, &h.When)
			h.When = strings.ToUpper(h.When)
		case "encoding":
			var e string
			if json.Unmarshal(v, &e) != nil || !strings.EqualFold(strings.ReplaceAll(e, "-", ""), "utf8") {
				warn("%s.encoding: %s is not supported; files are written in UTF-8", path, v)
			}
		case "mode":
			var mode string
			if json.Unmarshal(v, &mode) != nil || mode != "a" {
				warn("%s.mode: %s is not supported; files are appended to", path, v)
			}
		default:
			warn("%s.%s: not supported; ignored", path, k)
		}
		if err != nil {
			return h, false, fmt.Errorf("%s.%s: %w", path, k, err)
		}
	}
	switch {
	case h.Kind != KindStream && h.Kind != KindNull && h.Filename == "":
		return h, false, fmt.Errorf("%s.filename: missing (class %s writes a file)", path, class)
	case h.MaxBytes < 0 || h.BackupCount < 0:
		return h, false, fmt.Errorf("%s: maxBytes and backupCount must not be negative", path)
	case h.Kind == KindTimed && h.Interval < 1:
		return h, false, fmt.Errorf("%s.interval: %d; want 1 or more", path, h.Interval)
	case h.Kind == KindTimed && !validWhen(h.When):
		return h, false, fmt.Errorf("%s.when: %q; want S, M, H, D, MIDNIGHT or W0..W6", path, h.When)
	}
	return h, true, nil
}

func validWhen(w string) bool {
	switch w {
	case "S", "M", "H", "D", "MIDNIGHT", "W0", "W1", "W2", "W3", "W4", "W5", "W6":
		return true
	}
	return false
}

func (c *FileConfig) decodeLoggers(v json.RawMessage, warn func(string, ...any)) error {
	var ls map[string]json.RawMessage
	if err := json.Unmarshal(v, &ls); err != nil {
		return fmt.Errorf("loggers: want an object of logger objects: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(ls)) {
		lg, err := decodeLogger(ls[name], "loggers."+name, warn)
		if err != nil {
			return err
		}
		if _, ok := loggerCategories[name]; !ok {
			warn("loggers.%s: the gateway has no such logger (it has %s); ignored", name, strings.Join(slices.Sorted(maps.Keys(loggerCategories)), ", "))
		}
		c.Loggers[name] = lg
	}
	return nil
}

func decodeLogger(v json.RawMessage, path string, warn func(string, ...any)) (LoggerConfig, error) {
	lg := LoggerConfig{Level: LevelAll, Propagate: true, Handlers: []string{}}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v, &m); err != nil {
		return lg, fmt.Errorf("%s: want an object: %w", path, err)
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		var err error
		switch k {
		case "level":
			lg.Level, err = levelJSON(m[k])
		case "handlers":
			err = json.Unmarshal(m[k], &lg.Handlers)
		case "propagate":
			err = json.Unmarshal(m[k], &lg.Propagate)
		default:
			warn("%s.%s: not supported; ignored", path, k)
		}
		if err != nil {
			return lg, fmt.Errorf("%s.%s: %w", path, k, err)
		}
	}
	return lg, nil
}

// categoryLoggers returns, for each category, its level and the handler names it writes to: its loggers'
// (storage and database, connector and converter merged: the most verbose level, every handler), the root's for
// what propagates, the root alone for a category no logger names.
func (c *FileConfig) categoryLoggers() (levels [numCategories]slog.Level, handlers [numCategories][]string) {
	var named [numCategories]bool
	for _, name := range slices.Sorted(maps.Keys(c.Loggers)) {
		cat, ok := loggerCategories[name]
		if !ok {
			continue
		}
		lg := c.Loggers[name]
		lv := lg.Level
		if lv == LevelAll {
			lv = c.Root.Level // NOTSET: the parent's level, as in Python
		}
		if !named[cat] || lv < levels[cat] {
			levels[cat] = lv
		}
		named[cat] = true
		handlers[cat] = append(handlers[cat], lg.Handlers...)
		if lg.Propagate {
			handlers[cat] = append(handlers[cat], c.Root.Handlers...)
		}
	}
	for cat := range numCategories {
		if !named[cat] {
			levels[cat], handlers[cat] = c.Root.Level, slices.Clone(c.Root.Handlers)
		}
		slices.Sort(handlers[cat])
		handlers[cat] = slices.Compact(handlers[cat])
	}
	return levels, handlers
}

// Files returns the files the configuration writes, resolved against dir.
func (c *FileConfig) Files(dir string) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(c.Handlers)) {
		if f := c.Handlers[name].Filename; f != "" {
			out = append(out, resolve(dir, f))
		}
	}
	return out
}

// resolve joins a relative path to dir.
func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// ApplyLevels sets every category's level from c, in place (the outputs stay as they were opened).
func (l *Logs) ApplyLevels(c *FileConfig) {
	levels, _ := c.categoryLoggers()
	for cat, lv := range levels {
		l.SetLevel(Category(cat), lv)
	}
}
