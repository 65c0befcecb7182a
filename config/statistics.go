package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/tbgateway/tbgateway/internal/confjson"
)

// StatCommand is one custom statistics command: an entry of the file named by thingsboard.statistics.configuration
// (the Python gateway's {command, timeout, attributeOnGateway, installCmd?}) or of the inline "commands" list.
// It is run without a shell.
type StatCommand struct {
	// Attribute is "attributeOnGateway": the telemetry key of the gateway device its output is sent under.
	Attribute string
	// Argv is "command": a list (the program and its arguments) as written, or a string split into words as a
	// shell splits them (quotes and backslashes), with nothing expanded: no pipes, variables, globs or redirects.
	Argv []string
	// Timeout is "timeout" in seconds; the command is killed when it runs longer.
	Timeout time.Duration
}

// loadStatisticsCommands puts the statistics.configuration file's commands (relative paths resolve against the
// config folder) before the inline ones decoded with the main file, and returns the file's warnings. A file that
// cannot be used sets StatisticsCommandsErr instead of failing the load: the gateway then runs without its
// commands.
func (c *Config) loadStatisticsCommands() []Warning {
	name := c.Thingsboard.Statistics.Configuration
	if name == "" {
		return nil
	}
	file := name
	if !filepath.IsAbs(file) {
		file = filepath.Join(c.Dir, file)
	}
	data, err := readFile(file)
	if err != nil {
		found := fmt.Sprintf("%q (%v)", file, errors.Unwrap(err))
		if errors.Is(err, fs.ErrNotExist) {
			found = fmt.Sprintf("%q (no such file)", file)
		}
		c.StatisticsCommandsErr = &Error{File: c.File, Path: "thingsboard.statistics.configuration",
			Expected: "a readable file of custom statistics commands", Found: found, Err: err}
		return nil
	}
	tree, err := parseJSON(file, data)
	if err != nil {
		c.StatisticsCommandsErr = err
		return nil
	}
	d := confjson.NewWith(file, confjson.Options{MaxErrors: maxErrors})
	cmds := decodeStatCommands(d, "", tree)
	if err := d.Err(); err != nil {
		c.StatisticsCommandsErr = err
		return d.Warnings()
	}
	c.StatisticsCommands = append(cmds, c.StatisticsCommands...)
	return d.Warnings()
}

// decodeInlineStatCommands reads thingsboard.statistics.commands from the main file's tree (the shape remote
// configuration uses), if present.
func decodeInlineStatCommands(d *confjson.Decoder, tree any) []StatCommand {
	tb, _ := tree.(map[string]any)["thingsboard"].(map[string]any)
	st, _ := tb["statistics"].(map[string]any)
	v, ok := st["commands"]
	if !ok || v == nil {
		return nil
	}
	return decodeStatCommands(d, "thingsboard.statistics.commands", v)
}

// decodeStatCommands reads a list of custom statistics commands found at path.
func decodeStatCommands(d *confjson.Decoder, path string, v any) []StatCommand {
	items, ok := v.([]any)
	if !ok {
		d.Fail(path, "a list of {command, timeout, attributeOnGateway}", v)
		return nil
	}
	var out []StatCommand
	for i, item := range items {
		o := d.Object(confjson.Index(path, i), item)
		if o == nil {
			continue
		}
		if c, ok := decodeStatCommand(o); ok {
			out = append(out, c)
		}
		o.Done()
	}
	return out
}

// decodeStatCommand reads one command entry; ok is false when it has an error (recorded).
func decodeStatCommand(o *confjson.Object) (StatCommand, bool) {
	d := o.Decoder()
	var c StatCommand
	if o.Require("attributeOnGateway", "a telemetry key") {
		c.Attribute = o.String("attributeOnGateway", "")
		if strings.TrimSpace(c.Attribute) == "" && !d.Failed() {
			d.Fail(o.Key("attributeOnGateway"), "a telemetry key", c.Attribute)
		}
	}
	if o.Require("timeout", "a number of seconds > 0") {
		secs := o.FloatAs("timeout", 0, math.SmallestNonzeroFloat64, 86400, "a number of seconds > 0 and <= 86400")
		c.Timeout = time.Duration(secs * float64(time.Second))
	}
	if o.Require("command", "a command: a list of program and arguments, or a string") {
		c.Argv = commandArgv(o, "command")
	}
	if v, _ := o.Get("installCmd"); v != nil && v != "" {
		d.Warn(o.Key("installCmd"), "install commands are not run; install what the command needs beforehand")
	}
	return c, c.Attribute != "" && c.Timeout > 0 && len(c.Argv) > 0
}

// commandArgv reads a command at key k: a non-empty list of strings taken as it is, or a string split into
// words (SplitCommand). Shell operators in a string are warned about, since no shell interprets them.
func commandArgv(o *confjson.Object, k string) []string {
	d := o.Decoder()
	const expected = `a command: a list of program and arguments, or a string`
	v, ok := o.Get(k)
	if !ok {
		return nil
	}
	switch x := v.(type) {
	case []any:
		argv := make([]string, 0, len(x))
		for i, item := range x {
			s, ok := item.(string)
			if !ok {
				d.Fail(confjson.Index(o.Key(k), i), "a string", item)
				return nil
			}
			argv = append(argv, s)
		}
		if len(argv) == 0 || argv[0] == "" {
			d.Fail(o.Key(k), expected, v)
			return nil
		}
		return argv
	case string:
		argv, op, err := SplitCommand(x)
		if err != nil || len(argv) == 0 {
			d.Fail(o.Key(k), expected+" ("+errText(err, "empty")+")", v)
			return nil
		}
		if op != "" {
			d.Warn(o.Key(k), fmt.Sprintf("runs without a shell: %q reaches %s as an argument; to use a shell write [\"/bin/sh\", \"-c\", \"...\"]", op, argv[0]))
		}
		return argv
	}
	d.Fail(o.Key(k), expected, v)
	return nil
}

func errText(err error, def string) string {
	if err != nil {
		return err.Error()
	}
	return def
}

// SplitCommand splits a command line into words the way a POSIX shell splits them, and does nothing else:
// single quotes keep everything, double quotes keep everything but \" \\ \$ \` (which lose the backslash), a
// backslash outside quotes keeps the next character. Nothing is expanded or interpreted: "|", ";", "$HOME" or
// "*" are plain text. op is the first unquoted shell operator or expansion seen ("|", ";", "&", "<", ">", "$",
// "`", "*", "?"), for a warning; it is "" when there is none. An unterminated quote or a trailing backslash is
// an error.
func SplitCommand(s string) (argv []string, op string, err error) {
	var word strings.Builder
	inWord := false
	noteOp := func(r rune) {
		if op == "" {
			op = string(r)
		}
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				argv = append(argv, word.String())
				word.Reset()
				inWord = false
			}
		case r == '\\':
			if i+1 >= len(rs) {
				return nil, "", errors.New("trailing backslash")
			}
			i++
			if rs[i] != '\n' { // backslash-newline joins lines
				word.WriteRune(rs[i])
			}
			inWord = true
		case r == '\'':
			end := indexRune(rs, i+1, '\'')
			if end < 0 {
				return nil, "", errors.New("unterminated single quote")
			}
			word.WriteString(string(rs[i+1 : end]))
			i, inWord = end, true
		case r == '"':
			i++
			for ; i < len(rs) && rs[i] != '"'; i++ {
				if rs[i] == '\\' && i+1 < len(rs) && strings.ContainsRune("\"\\$`", rs[i+1]) {
					i++
				} else if rs[i] == '$' || rs[i] == '`' {
					noteOp(rs[i])
				}
				word.WriteRune(rs[i])
			}
			if i >= len(rs) {
				return nil, "", errors.New("unterminated double quote")
			}
			inWord = true
		default:
			if strings.ContainsRune("|;&<>$`*?", r) {
				noteOp(r)
			}
			word.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		argv = append(argv, word.String())
	}
	return argv, op, nil
}

func indexRune(rs []rune, from int, r rune) int {
	for i := from; i < len(rs); i++ {
		if rs[i] == r {
			return i
		}
	}
	return -1
}

// decodeGateway reads our own "gateway" section.
func decodeGateway(o *confjson.Object, g *Gateway) {
	str(o, "dataFolderPath", &g.DataFolderPath)
	g.AllowedRemoteFolders = o.Strings("allowedRemoteFolders")
	if o.Has("rebootCommand") {
		g.RebootCommand = commandArgv(o, "rebootCommand")
	} else {
		o.Ignore("rebootCommand")
	}
}
