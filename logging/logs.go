package logging

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Category is the Python gateway logger a record belongs to.
type Category uint8

// The categories, named after the Python gateway's loggers.
const (
	Service    Category = iota // "service": the gateway itself
	Connection                 // "tb_connection": the link to ThingsBoard
	Storage                    // "storage" (and "database")
	Extension                  // "extension"
	Connector                  // "connector": every connector, unless its file sets logLevel
	numCategories
)

// loggerNames are the Python logger names of the categories.
var loggerNames = [numCategories]string{"service", "tb_connection", "storage", "extension", "connector"}

// remoteKeys are the telemetry keys of the categories' remote lines (connectors use "<name>_LOGS").
var remoteKeys = [numCategories]string{"SERVICE_LOGS", "CONNECTION_LOGS", "STORAGE_LOGS", "EXTENSION_LOGS", ""}

// String is the category's Python logger name.
func (c Category) String() string { return loggerNames[c] }

// output is one destination of records: a handler and, when it owns a file, how to close it.
type output struct {
	h     slog.Handler
	level slog.Level // the handler's own level (logs.json handlers[...].level)
}

// Logs is the gateway's logging (see the package documentation). Its handler is safe for concurrent use; levels
// change in place (ApplyLevels, SetRemoteLevel).
type Logs struct {
	outs    [numCategories][]output
	levels  [numCategories]atomic.Int64 // the loggers' levels for the outputs
	closers []func() error

	conns sync.Map // connector name → *connState

	remote *remote
	now    func() time.Time
}

// connState is what the gateway says about one connector's logger: its own level (logLevel of its file) and
// whether its lines go to ThingsBoard (enableRemoteLogging).
type connState struct {
	name     string
	hasLevel atomic.Bool
	level    atomic.Int64
	remote   atomic.Bool
}

// newLogs makes a Logs with no outputs, every level at INFO and remote logging unset.
func newLogs(now func() time.Time) *Logs {
	if now == nil {
		now = time.Now
	}
	l := &Logs{now: now}
	for c := range numCategories {
		l.levels[c].Store(int64(slog.LevelInfo))
	}
	l.remote = newRemote(l.now)
	return l
}

// Wrap returns a Logs whose every logger writes to h at every level h enables (h keeps its own level), with
// remote logging available. The gateway wraps a logger it was given that does not come from this package.
func Wrap(h slog.Handler) *Logs {
	l := newLogs(nil)
	for c := range numCategories {
		l.outs[c] = []output{{h: h, level: LevelAll}}
		l.levels[c].Store(int64(LevelAll))
	}
	return l
}

// Of returns the Logs behind a handler made by Logs.Logger (or derived from one), or nil.
func Of(h slog.Handler) *Logs {
	if th, ok := h.(*handler); ok {
		return th.l
	}
	return nil
}

// Logger returns the gateway's root logger (the service logger).
func (l *Logs) Logger() *slog.Logger {
	return slog.New(l.root())
}

func (l *Logs) root() *handler {
	return &handler{l: l, cat: Service, outs: l.baseOuts(Service)}
}

func (l *Logs) baseOuts(c Category) []slog.Handler {
	hs := make([]slog.Handler, len(l.outs[c]))
	for i, o := range l.outs[c] {
		hs[i] = levelFloor{min: o.level, next: o.h}
	}
	return hs
}

// Level returns a category's level for the outputs.
func (l *Logs) Level(c Category) slog.Level { return slog.Level(l.levels[c].Load()) }

// SetLevel sets a category's level for the outputs, in place.
func (l *Logs) SetLevel(c Category, lv slog.Level) { l.levels[c].Store(int64(lv)) }

// SetConnector records a connector's own level (nil: the "connector" logger's) and whether its lines go to
// ThingsBoard; the gateway calls it whenever it (re)builds the connector.
func (l *Logs) SetConnector(name string, level *slog.Level, remote bool) {
	cs := l.conn(name)
	if level != nil {
		cs.level.Store(int64(*level))
	}
	cs.hasLevel.Store(level != nil)
	cs.remote.Store(remote)
}

func (l *Logs) conn(name string) *connState {
	if v, ok := l.conns.Load(name); ok {
		return v.(*connState)
	}
	v, _ := l.conns.LoadOrStore(name, &connState{name: name})
	return v.(*connState)
}

// Close closes the files the outputs write.
func (l *Logs) Close() error {
	var errs []error
	for _, c := range l.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// levelFloor applies an output's own level.
type levelFloor struct {
	min  slog.Level
	next slog.Handler
}

func (f levelFloor) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= f.min && f.next.Enabled(ctx, lv)
}
func (f levelFloor) Handle(ctx context.Context, r slog.Record) error { return f.next.Handle(ctx, r) }
func (f levelFloor) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFloor{min: f.min, next: f.next.WithAttrs(as)}
}
func (f levelFloor) WithGroup(g string) slog.Handler {
	return levelFloor{min: f.min, next: f.next.WithGroup(g)}
}

// Categories returns every category.
func Categories() []Category {
	out := make([]Category, numCategories)
	for i := range out {
		out[i] = Category(i)
	}
	return out
}
