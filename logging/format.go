package logging

import (
	"log/slog"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"unicode"
)

// line renders a record as a remote log line in the Python gateway's remote format
// ("2006-01-02 15:04:05,000 - |LEVEL|<logger> [file.go] - package function - line - message"), followed by the
// logger's and the record's attributes as key=value.
func (h *handler) line(r slog.Record) string {
	b := make([]byte, 0, 160+len(r.Message)+len(h.text))
	b = r.Time.AppendFormat(b, "2006-01-02 15:04:05,000")
	b = append(b, " - |"...)
	b = append(b, LevelName(r.Level)...)
	b = append(b, "|<"...)
	if h.conn != nil {
		b = append(b, h.conn.name...)
	} else {
		b = append(b, loggerNames[h.cat]...)
	}
	b = append(b, "> ["...)
	file, pkg, fn, ln := source(r.PC)
	b = append(b, file...)
	b = append(b, "] - "...)
	b = append(b, pkg...)
	b = append(b, ' ')
	b = append(b, fn...)
	b = append(b, " - "...)
	b = strconv.AppendInt(b, int64(ln), 10)
	b = append(b, " - "...)
	b = append(b, r.Message...)
	b = append(b, h.text...)
	r.Attrs(func(a slog.Attr) bool {
		b = appendAttr(b, h.grp, a)
		return true
	})
	return string(b)
}

// source names the caller of a record: file base name, package, function and line.
func source(pc uintptr) (file, pkg, fn string, line int) {
	if pc == 0 {
		return "?", "?", "?", 0
	}
	f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	name := f.Function // "github.com/x/y/pkg.(*T).Method"
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	pkg, fn, _ = strings.Cut(name, ".")
	return filepath.Base(f.File), pkg, fn, f.Line
}

// appendAttr appends " key=value" (groups flattened as prefix.key), quoting values that need it.
func appendAttr(b []byte, prefix string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return b
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			b = appendAttr(b, p, g)
		}
		return b
	}
	b = append(b, ' ')
	b = append(b, prefix...)
	b = append(b, a.Key...)
	b = append(b, '=')
	s := a.Value.String()
	if needsQuote(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for _, r := range s {
		if r == '=' || r == '"' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
	}
	return false
}
