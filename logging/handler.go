package logging

import (
	"context"
	"log/slog"
	"slices"
)

// handler routes records of one logger to its category's outputs and tees them to remote logging.
type handler struct {
	l    *Logs
	cat  Category
	conn *connState     // the connector's state when cat is Connector
	outs []slog.Handler // the category's outputs with ops applied
	ops  []op           // every WithAttrs/WithGroup so far, replayed when the category changes
	text []byte         // the attributes rendered for remote lines
	grp  string         // the open groups, "a.b." (prefix of attribute keys in remote lines)
}

// op is one WithAttrs or WithGroup call.
type op struct {
	attrs []slog.Attr
	group string
}

// fileLevel is the level of this logger for the outputs: the connector's own level when its file sets one.
func (h *handler) fileLevel() slog.Level {
	if h.conn != nil && h.conn.hasLevel.Load() {
		return slog.Level(h.conn.level.Load())
	}
	return h.l.Level(h.cat)
}

// Enabled reports whether an output or remote logging takes records of level lv; errors are always handled, since
// they are counted (the error counters of remote logging).
func (h *handler) Enabled(ctx context.Context, lv slog.Level) bool {
	if lv >= slog.LevelError || h.remoteOn(lv) {
		return true
	}
	if lv < h.fileLevel() {
		return false
	}
	for _, o := range h.outs {
		if o.Enabled(ctx, lv) {
			return true
		}
	}
	return false
}

// remoteOn reports whether a record of level lv goes to ThingsBoard.
func (h *handler) remoteOn(lv slog.Level) bool {
	if h.conn != nil {
		return h.conn.remote.Load() && h.l.remote.connectorsOn() && lv >= h.fileLevel()
	}
	return lv >= h.l.remote.level()
}

// Handle writes r to the enabled outputs, counts errors and queues the remote line.
func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.l.remote.countError(h.counterKey())
	}
	if h.remoteOn(r.Level) {
		h.l.remote.enqueue(h.remoteKey(), h.conn == nil, h.line(r))
	}
	if r.Level < h.fileLevel() {
		return nil
	}
	var first error
	for _, o := range h.outs {
		if o.Enabled(ctx, r.Level) {
			if err := o.Handle(ctx, r); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

func (h *handler) remoteKey() string {
	if h.conn != nil {
		return h.conn.name + "_LOGS"
	}
	return remoteKeys[h.cat]
}

func (h *handler) counterKey() string {
	if h.conn != nil {
		return h.conn.name + "_ERRORS_COUNT"
	}
	return loggerNames[h.cat] + "_ERRORS_COUNT"
}

// WithAttrs classifies the logger by its "connector" or "component" attribute.
func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	n := h.clone()
	n.ops = append(n.ops, op{attrs: as})
	if h.grp == "" {
		for _, a := range as {
			n.classify(a)
		}
	}
	for _, a := range as {
		n.text = appendAttr(n.text, n.grp, a)
	}
	if n.cat != h.cat || n.conn != h.conn {
		n.outs = n.replay()
	} else {
		for i, o := range n.outs {
			n.outs[i] = o.WithAttrs(as)
		}
	}
	return n
}

// WithGroup opens a group.
func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := h.clone()
	n.ops = append(n.ops, op{group: name})
	n.grp += name + "."
	for i, o := range n.outs {
		n.outs[i] = o.WithGroup(name)
	}
	return n
}

func (h *handler) clone() *handler {
	n := *h
	n.outs = slices.Clone(h.outs)
	n.ops = slices.Clip(h.ops)
	n.text = slices.Clip(h.text)
	return &n
}

// classify moves the logger to the category its attribute names; a connector's logger stays one.
func (h *handler) classify(a slog.Attr) {
	if h.conn != nil || a.Value.Kind() != slog.KindString {
		return
	}
	switch a.Key {
	case "connector":
		h.cat, h.conn = Connector, h.l.conn(a.Value.String())
	case "component":
		switch a.Value.String() {
		case "uplink":
			h.cat = Connection
		case "storage":
			h.cat = Storage
		case "extension":
			h.cat = Extension
		}
	}
}

// replay builds the outputs of the handler's category with every attribute and group applied.
func (h *handler) replay() []slog.Handler {
	outs := h.l.baseOuts(h.cat)
	for i, o := range outs {
		for _, p := range h.ops {
			if p.group != "" {
				o = o.WithGroup(p.group)
			} else {
				o = o.WithAttrs(p.attrs)
			}
		}
		outs[i] = o
	}
	return outs
}
