package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/tbgateway/tbgateway/logging"
	"github.com/tbgateway/tbgateway/uplink"
)

// runRemoteLogging sends the remote log lines and error counters through the link (package logging).
func (g *Gateway) runRemoteLogging(ctx context.Context) error {
	return g.logs.RunRemote(ctx, logging.RemoteOptions{
		Publish:         g.publishLogs,
		MaxPayloadBytes: g.config().Thingsboard.MaxPayloadSizeBytes,
		Log:             g.log,
	})
}

// publishLogs sends remote log telemetry with the gateway device's spare rate budget only, so logs never make
// data wait.
func (g *Gateway) publishLogs(ctx context.Context, body []byte, datapoints int) error {
	err := g.link.PublishOwnTelemetrySpare(ctx, body, datapoints)
	if errors.Is(err, uplink.ErrNoSpareRate) {
		return logging.ErrBusy
	}
	return err
}

// remoteLogLevel applies the shared attribute RemoteLoggingLevel (honoured whatever remoteConfiguration says) and
// echoes it as a client attribute, as the Python gateway does.
func (g *Gateway) remoteLogLevel(ctx context.Context, v any) error {
	s := strings.Trim(string(rawOf(v)), `"`)
	lv, err := logging.ParseLevel(s)
	if err != nil {
		return fmt.Errorf("%s: %w", attrRemoteLogLevel, err)
	}
	g.logs.SetRemoteLevel(lv)
	if lv >= logging.LevelNone {
		g.log.Info("remote logging: RemoteLoggingLevel received; remote logging is off", "level", s)
	} else {
		g.log.Info("remote logging: RemoteLoggingLevel received; the gateway's logs go to ThingsBoard", "level", logging.LevelName(lv))
	}
	g.publishRemote(ctx, map[string]any{attrRemoteLogLevel: s})
	return nil
}

// remoteLogs applies the shared attribute logs_configuration (logs.json's content): validated with the code that
// reads logs.json, refused when a file lies outside the config and data folders; the loggers' levels change in
// place, while handler changes take effect at the next start.
func (g *Gateway) remoteLogs(ctx context.Context, raw []byte) error {
	c, warns, err := logging.Decode(raw, attrLogs)
	if err != nil {
		return err
	}
	for _, f := range c.Files(g.config().Dir) {
		if !within(f, g.config().Dir) && !within(f, g.config().Gateway.DataFolderPath) {
			return fmt.Errorf("%s: handler file %s is outside the config folder and the data folder; refused", attrLogs, f)
		}
	}
	for _, w := range warns {
		g.log.Warn("remote configuration", "warning", w)
	}
	g.logs.ApplyLevels(c)
	g.log.Info("remote configuration: log levels applied from ThingsBoard; handler changes take effect at the next start")
	g.publishRemote(ctx, map[string]any{attrLogs: objectOf(raw)})
	return nil
}

// within reports whether path lies in dir (dir empty: never).
func within(path, dir string) bool {
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// RemoteLogStats returns remote logging's counters (lines queued, sent and dropped).
func (g *Gateway) RemoteLogStats() logging.RemoteStats { return g.logs.RemoteStats() }
