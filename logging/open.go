package logging

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// OpenOptions configure Console and Open.
type OpenOptions struct {
	// Dir resolves relative file names (the config folder).
	Dir string
	// Stdout and Stderr are the streams of StreamHandlers (and Console's output, Stderr).
	Stdout, Stderr io.Writer
	// JSON writes lines as JSON objects instead of slog's text.
	JSON bool
	// Now is the clock of timed rotation; nil means time.Now.
	Now func() time.Time
}

// Console returns a Logs writing every logger to o.Stderr at level (the gateway without logs.json).
func Console(level slog.Level, o OpenOptions) *Logs {
	l := newLogs(o.Now)
	h := o.handler(o.Stderr)
	for c := range numCategories {
		l.outs[c] = []output{{h: h, level: LevelAll}}
		l.levels[c].Store(int64(level))
	}
	return l
}

// Open builds the outputs c configures: console streams, files, and rotating files (by size with lumberjack, or
// timed: see timedWriter). Folders of the files are created. Handlers no logger uses are not opened.
func Open(c *FileConfig, o OpenOptions) (*Logs, error) {
	l := newLogs(o.Now)
	levels, names := c.categoryLoggers()
	made := map[string]slog.Handler{}
	for cat := range numCategories {
		l.levels[cat].Store(int64(levels[cat]))
		for _, name := range names[cat] {
			hc := c.Handlers[name]
			if hc.Kind == KindNull {
				continue
			}
			h, ok := made[name]
			if !ok {
				w, closer, err := o.writer(hc)
				if err != nil {
					l.Close()
					return nil, fmt.Errorf("%s: handlers.%s: %w", c.File, name, err)
				}
				if closer != nil {
					l.closers = append(l.closers, closer)
				}
				h = o.handler(w)
				made[name] = h
			}
			l.outs[cat] = append(l.outs[cat], output{h: h, level: hc.Level})
		}
	}
	return l, nil
}

// handler makes the slog handler of one output; levels print with the Python gateway's names.
func (o OpenOptions) handler(w io.Writer) slog.Handler {
	opts := &slog.HandlerOptions{Level: LevelAll, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.LevelKey {
			if lv, ok := a.Value.Any().(slog.Level); ok {
				a.Value = slog.StringValue(LevelName(lv))
			}
		}
		return a
	}}
	if o.JSON {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// writer opens a handler's destination.
func (o OpenOptions) writer(hc HandlerConfig) (io.Writer, func() error, error) {
	if hc.Kind == KindStream {
		if hc.Stream == "stdout" {
			return o.Stdout, nil, nil
		}
		return o.Stderr, nil, nil
	}
	path := resolve(o.Dir, hc.Filename)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, err
	}
	switch {
	case hc.Kind == KindTimed:
		lj := &lumberjack.Logger{Filename: path, MaxSize: sizeMB(hc.MaxBytes), MaxBackups: hc.BackupCount}
		tw := newTimedWriter(lj, hc.When, hc.Interval, o.Now)
		return tw, lj.Close, nil
	case hc.Kind == KindSize && hc.MaxBytes > 0 && hc.BackupCount > 0:
		// Python's RotatingFileHandler never rotates when maxBytes or backupCount is 0.
		lj := &lumberjack.Logger{Filename: path, MaxSize: sizeMB(hc.MaxBytes), MaxBackups: hc.BackupCount}
		return lj, lj.Close, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

// sizeMB is lumberjack's size limit (whole megabytes, at least 1) for maxBytes; 0 means no size limit.
func sizeMB(maxBytes int64) int {
	if maxBytes <= 0 {
		return math.MaxInt32
	}
	return int(max(1, (maxBytes+(1<<20)-1)>>20))
}
