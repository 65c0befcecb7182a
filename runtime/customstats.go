package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tbgateway/tbgateway/config"
)

const (
	// customOutputLimit bounds what is kept of one custom statistics command's output (stdout, and stderr for
	// the log).
	customOutputLimit = 64 << 10
	// customConcurrency bounds the custom statistics commands running at once.
	customConcurrency = 4
	// customWaitDelay bounds the wait for a killed command's output pipes to close.
	customWaitDelay = 5 * time.Second
)

// sendCustomStatistics runs the custom statistics commands and publishes their values as telemetry of the
// gateway device, each under its attributeOnGateway key, as the Python gateway does. It reports false when
// the link is down or the publish failed (the schedule tries again at the next connect).
func (g *Gateway) sendCustomStatistics(ctx context.Context) bool {
	if !g.link.Connected() {
		return false
	}
	values := g.runCustomCommands(ctx)
	if len(values) == 0 || ctx.Err() != nil {
		return true
	}
	pctx, cancel := context.WithTimeout(ctx, statisticsPublishTimeout)
	defer cancel()
	if err := g.link.PublishOwnTelemetry(pctx, g.now().UnixMilli(), values); err != nil {
		if ctx.Err() == nil {
			g.log.Warn("sending custom statistics failed", "err", err)
		}
		return false
	}
	return true
}

// runCustomCommands runs every custom statistics command, at most customConcurrency at once, and returns the
// values of those that printed something. A command that fails (cannot start, is killed at its timeout,
// exits with an error and prints nothing) is logged once when it starts failing and once when it works again;
// the others' values are returned all the same.
func (g *Gateway) runCustomCommands(ctx context.Context) map[string]any {
	cmds := g.stats.cmds
	type result struct {
		value any
		err   error
	}
	results := make([]result, len(cmds))
	sem := make(chan struct{}, customConcurrency)
	var wg sync.WaitGroup
	for i, c := range cmds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			v, err := runStatCommand(ctx, c, g.config().Dir)
			results[i] = result{v, err}
		})
	}
	wg.Wait()
	out := make(map[string]any, len(cmds))
	g.stats.mu.Lock()
	defer g.stats.mu.Unlock()
	for i, r := range results {
		c := cmds[i]
		switch was := g.stats.failing[c.Attribute]; {
		case r.err != nil && ctx.Err() == nil && !was:
			g.log.Warn("custom statistics command failed; its value is not sent", "attributeOnGateway", c.Attribute,
				"command", c.Argv, "timeout", c.Timeout, "err", r.err)
			g.stats.failing[c.Attribute] = true
		case r.err == nil && was:
			g.log.Info("custom statistics command works again", "attributeOnGateway", c.Attribute, "command", c.Argv)
			delete(g.stats.failing, c.Attribute)
		}
		if r.err == nil && r.value != nil {
			out[c.Attribute] = r.value
		}
	}
	return out
}

// errCommandTimeout is wrapped by the error of a custom statistics command killed at its timeout.
var errCommandTimeout = errors.New("killed at its timeout")

// runStatCommand runs one custom statistics command without a shell: Argv[0] is looked up in PATH and gets
// Argv[1:] as its arguments, in the config folder dir. At its timeout the command and every process it
// started are killed. Its output is read as the Python gateway reads it: nothing printed gives a nil value
// (nothing is sent), a number (surrounding white space allowed) gives that number, anything else the output
// as it is. As in the Python gateway, the exit status does not matter when something was printed.
func runStatCommand(ctx context.Context, c config.StatCommand, dir string) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	stdout, stderr := &cappedBuffer{max: customOutputLimit}, &cappedBuffer{max: customOutputLimit}
	err := newCommand(ctx, c.Argv, dir, stdout, stderr).Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("%w of %s", errCommandTimeout, c.Timeout)
	}
	if stdout.Len() == 0 {
		if err != nil {
			return nil, fmt.Errorf("%w (stderr %q)", err, strings.TrimSpace(stderr.String()))
		}
		return nil, nil
	}
	return parseStatOutput(stdout.String()), nil
}

// newCommand prepares argv to run without a shell in dir: argv[0] is looked up in PATH and gets argv[1:] as its
// arguments. When ctx ends, the command and every process it started are killed, and the wait for its output
// is bounded.
func newCommand(ctx context.Context, argv []string, dir string, stdout, stderr io.Writer) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = customWaitDelay
	killProcessGroup(cmd)
	return cmd
}

// parseStatOutput is the Python gateway's float(output) with the text itself as the fallback. A number is
// returned as a json.Number in Python's float notation ("5.0", "1e+16"), so ThingsBoard stores the same type
// as it does for the Python gateway. Infinities and NaN, which JSON cannot carry, stay text.
func parseStatOutput(s string) any {
	t := strings.TrimSpace(s)
	if t == "" || strings.ContainsAny(t, "xX") { // strconv reads hexadecimal floats; Python's float does not
		return s
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return s
	}
	return json.Number(pythonFloat(f))
}

// pythonFloat formats f as Python's repr does: the shortest digits, positional from 1e-4 to below 1e16 (with
// ".0" when integral), exponential outside.
func pythonFloat(f float64) string {
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if f != 0 && (exp < -4 || exp >= 16) {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// cappedBuffer keeps the first max bytes written and drops the rest, so a chatty command cannot grow memory.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
