// Package runtime wires the gateway together: it builds the configured connectors, the storage, the report
// strategy filter and the ThingsBoard link from a config.Config, supervises them (a connector that fails or
// panics is restarted with backoff while the others go on), routes ThingsBoard's downlink calls to the connector
// that owns the device, and serves the gateway's own RPC methods.
package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	grpcconn "github.com/tbgateway/tbgateway/connectors/grpc"
	"github.com/tbgateway/tbgateway/internal/backoff"
	"github.com/tbgateway/tbgateway/internal/ratelimit"
	"github.com/tbgateway/tbgateway/logging"
	"github.com/tbgateway/tbgateway/provision"
	"github.com/tbgateway/tbgateway/report"
	"github.com/tbgateway/tbgateway/storage/file"
	"github.com/tbgateway/tbgateway/storage/memory"
	"github.com/tbgateway/tbgateway/storage/sqlite"
	"github.com/tbgateway/tbgateway/storage/switchable"
	"github.com/tbgateway/tbgateway/uplink"
	"github.com/tbgateway/tbgateway/webui"
)

// ErrRestart is returned by Gateway.Run after the gateway_restart RPC asked for a restart.
var ErrRestart = errors.New("restart requested")

// DeviceTableFile is the device table's file name in the gateway's data folder (the Python gateway's name).
const DeviceTableFile = "connected_devices.json"

// Options are the runtime settings that do not come from the config files.
type Options struct {
	// Logger is the gateway's logger; nil discards.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// ConnectorBackoff shapes the restart delays of failing connectors; zero fields take the backoff package's
	// defaults (1 s doubling up to 1 min, 20 % jitter). Tests set small delays.
	ConnectorBackoff backoff.Policy
	// StatisticsPeriod overrides thingsboard.statistics.statsSendPeriodInSeconds (which the config keeps at 10 s
	// or more) when positive; tests set a short period.
	StatisticsPeriod time.Duration
	// Env reads the environment overrides when the configuration is loaded again (hot reload, SIGHUP): pass what
	// config.Load was given; nil means none, as for config.Load.
	Env func(string) string
	// LinkTryTimeout is how long a new ThingsBoard connection (general_configuration) is tried before the
	// previous one is restored; zero means DefaultLinkTryTimeout (30 s). Tests shorten it.
	LinkTryTimeout time.Duration
	// RemoteApplier, when set, receives the connector changes pushed from ThingsBoard instead of the gateway.
	RemoteApplier ConnectorApplier
}

// Gateway is a configured gateway, ready to Run once.
type Gateway struct {
	// cfg is the configuration that runs (config returns it): New stores the loaded one, and a change applied
	// while the gateway runs (remote configuration) stores the new one under the reconfiguration lock.
	cfg     atomic.Pointer[config.Config]
	log     *slog.Logger
	logs    *logging.Logs // the loggers' levels and remote logging (remotelog.go)
	now     func() time.Time
	store   *switchable.Store // the configured storage, switched by ApplyStorage (applystorage.go)
	link    *uplink.Client
	devices *DeviceTable
	filter  *report.Filter
	stamper *Stamper
	started time.Time
	opts    Options
	stats   statisticsState // statistics.go

	// credentials says where the link's credentials come from; a provisioning still to make runs first in Run.
	credentials *provision.Plan

	storageWatch storageWatch
	devFilter    filterState   // thingsboard.deviceFiltering (devicefilter.go)
	activity     activityState // thingsboard.checkingDeviceActivity (activity.go)
	remote       remoteState   // remote configuration (remote*.go)
	services     services      // the file check, restarted when its period changes (applylink_services.go)

	restartOnce sync.Once
	restart     chan struct{}

	mu         sync.Mutex
	syncCancel context.CancelFunc // stops the shared-attribute sync of the previous connection
	syncs      sync.WaitGroup     // running shared-attribute syncs; Run waits for them

	connectorSet // the connectors, changed while the gateway runs (reconfigure.go)

	grpc *grpcconn.Server // the gRPC server for external connectors, nil when off (grpc.go)
	web  *webui.Server    // the web UI listener, nil when off (webui.go)
}

// runningConnector is a configured connector with its identity and counters: built, or failed. It never changes
// once in the gateway's list; a new configuration makes a new runningConnector sharing the counters.
type runningConnector struct {
	name, typ string
	cfg       config.Connector
	impl      tbgateway.Connector // nil when failed
	log       *slog.Logger
	stats     *connectorCounters // shared with the connector's predecessors of the same name
	rules     map[report.Scope]report.Strategy
	// failed is why the connector could not be built (its configuration is invalid); it never runs.
	failed error
	// cancel stops the connector's supervisor and done closes once it returned; nil when it was never started.
	cancel context.CancelFunc
	done   chan struct{}
}

// New builds the gateway from cfg without doing network I/O: storage, device table, connectors and the link.
// Every connector's warnings (unknown keys, ignored settings) are logged. A connector type that is not built in
// is logged as a warning ("connector type X is not supported yet") and skipped; a connector whose file is missing
// or invalid is logged once as an error naming its file and key, reported failed in the statistics, and never
// run, while the other connectors run. New fails only for what stops the whole gateway (the main file's
// settings, the storage, the device table); check-config reports the same problems (see CheckConfig).
func New(cfg *config.Config, opts Options) (*Gateway, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	logs := logging.Of(log.Handler())
	if logs == nil {
		logs = logging.Wrap(log.Handler())
		log = logs.Logger()
	}
	g := &Gateway{log: log, logs: logs, now: opts.Now, stamper: NewStamper(), restart: make(chan struct{}), opts: opts}
	g.reconf = make(chan struct{}, 1)
	g.cfg.Store(cfg)
	g.stats.init(cfg)
	if g.now == nil {
		g.now = time.Now
	}
	p, err := makePlan(cfg, log)
	if err != nil {
		return nil, err
	}
	if err := g.applyDeviceFilter(cfg); err != nil {
		return nil, err
	}
	store, err := openStorage(cfg, log.With("component", "storage"))
	if err != nil {
		return nil, err
	}
	g.store = switchable.New(store, log.With("component", "storage"))
	g.devices, err = OpenDeviceTable(filepath.Join(cfg.Gateway.DataFolderPath, DeviceTableFile))
	if err != nil {
		store.Close()
		return nil, err
	}
	g.resolver = p.resolver
	g.credentials = p.credentials
	g.filter = report.New(p.resolver, g.putReported, log.With("component", "report"))
	g.addConnectors(p)
	g.grpc = newGRPCServer(g, cfg)
	g.web = newWebUI(g, cfg)
	g.link, err = uplink.New(p.uplink, g.store, g, log.With("component", "uplink"))
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("%s: thingsboard: %w", cfg.File, err)
	}
	if dir := cfg.Gateway.DataFolderPath; dir != "" {
		g.stamper = OpenStamper(filepath.Join(dir, StamperStateFile), log.With("component", "stamper"))
	}
	return g, nil
}

// openStorage builds the configured storage. Relative paths resolve against the main config file's folder.
func openStorage(cfg *config.Config, log *slog.Logger) (tbgateway.Storage, error) {
	st := cfg.Storage
	policy := tbgateway.FullPolicy(st.FullPolicy)
	switch st.Type {
	case config.StorageMemory:
		return memory.New(memory.Options{MaxRecords: st.MaxRecordsCount, Policy: policy}), nil
	case config.StorageSQLite:
		store, err := sqlite.Open(context.Background(), sqlite.Options{
			Dir:             sqlite.DirFromDataFilePath(resolvePath(cfg.Dir, st.DataFilePath)),
			MaxBytes:        int64(st.SizeLimitMB*(1<<20)) * int64(max(st.MaxDBAmount, 1)),
			Policy:          policy,
			TTL:             time.Duration(st.MessagesTTLInDays * float64(24*time.Hour)),
			TTLCheckPeriod:  time.Duration(st.MessagesTTLCheckInHours * float64(time.Hour)),
			MaxBatchRecords: st.WritingBatchSize,
		}, log)
		if err != nil {
			return nil, fmt.Errorf("%s: storage: %w", cfg.File, err)
		}
		return store, nil
	case config.StorageFile:
		// The Python keys: data_folder_path, max_file_count × max_records_per_file records (the capacity), and
		// max_records_between_fsync (the fsync policy; Put always returns after the fsync covering it).
		store, err := file.Open(file.Options{
			Dir:                    resolvePath(cfg.Dir, st.DataFolderPath),
			MaxSegments:            st.MaxFileCount,
			RecordsPerSegment:      st.MaxRecordsPerFile,
			MaxRecordsBetweenFsync: st.MaxRecordsBetweenFsync,
			Policy:                 policy,
		}, log)
		if err != nil {
			return nil, fmt.Errorf("%s: storage: %w", cfg.File, err)
		}
		return store, nil
	}
	return nil, fmt.Errorf("%s: storage.type: %q storage is not supported (use \"memory\", \"file\" or \"sqlite\")", cfg.File, st.Type)
}

// resolvePath returns p, or p joined to dir when p is relative.
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	// Keep a trailing separator: for the Python keys it means "this folder".
	joined := filepath.Join(dir, p)
	if strings.HasSuffix(p, "/") {
		joined += "/"
	}
	return joined
}

// uplinkConfig maps the "thingsboard" section to the link's settings.
func uplinkConfig(cfg *config.Config) uplink.Config {
	tb := cfg.Thingsboard
	sec := tb.Security
	resolve := func(p string) string { return resolvePath(cfg.Dir, p) }
	payload := tb.MaxPayloadSizeBytes
	return uplink.Config{
		Host: tb.Host,
		Port: tb.Port,
		Security: uplink.Security{
			Type: sec.Type, AccessToken: sec.AccessToken, ClientID: sec.ClientID,
			Username: sec.Username, Password: sec.Password,
			CACert: resolve(sec.CACert), Cert: resolve(sec.Cert), PrivateKey: resolve(sec.PrivateKey),
			TLS: sec.TLS != nil && *sec.TLS, Insecure: sec.Insecure,
		},
		ProxyHost:                tb.ProxyHost,
		ProxyPort:                tb.ProxyPort,
		KeepAlive:                time.Duration(tb.KeepAlive) * time.Second,
		ReconnectMin:             tb.ReconnectMinDelay(),
		ReconnectMax:             tb.ReconnectMaxDelay(),
		MaxInflight:              tb.MaxInflightMessages,
		MaxPayloadSize:           payload,
		RateLimits:               rateLimitOrEmpty(tb.RateLimits),
		DPRateLimits:             rateLimitOrEmpty(tb.DPRateLimits),
		MessagesRateLimits:       rateLimitOrEmpty(tb.MessagesRateLimits),
		DeviceRateLimits:         rateLimitOrEmpty(tb.DeviceRateLimits),
		DeviceDPRateLimits:       rateLimitOrEmpty(tb.DeviceDPRateLimits),
		DeviceMessagesRateLimits: rateLimitOrEmpty(tb.DeviceMessagesRateLimits),
		DeadLetterPath:           tb.DeadLetterFile,
		BatchMax:                 cfg.Storage.ReadRecordsCount,
		LiveFirst:                cfg.Storage.LiveFirst,
		LatencyMetadata:          tb.LatencyDebugMode,
	}
}

// rateLimitOrEmpty maps ThingsBoard's DEFAULT_* placeholders to "" (use what the server announces).
func rateLimitOrEmpty(s string) string {
	if ratelimit.IsPlaceholder(s) {
		return ""
	}
	return s
}

// Run runs the link, the report filter and every connector until ctx ends, then returns nil; after the
// gateway_restart RPC it stops everything and returns ErrRestart. Connectors and the link are supervised:
// an error or panic restarts only the failing part, with exponential backoff.
func (g *Gateway) Run(ctx context.Context) error {
	g.started = g.now()
	if err := g.awaitCredentials(ctx); err != nil {
		return g.stopBeforeStart(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	spawn := func(name string, log *slog.Logger, counter *SupervisorStats, bo backoff.Policy, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			Supervise(ctx, name, run, bo, log, counter)
		}()
	}
	spawn("uplink", g.log, nil, backoff.Policy{}, g.link.Run)
	spawn("report-strategy", g.log, nil, backoff.Policy{}, g.filter.Run)
	spawn("remote-logging", g.log, nil, backoff.Policy{}, g.runRemoteLogging)
	spawn("statistics", g.log, nil, backoff.Policy{}, g.runStatistics)
	if g.grpc != nil {
		spawn("grpc", g.log, nil, backoff.Policy{}, g.grpc.Run)
	}
	if g.web != nil {
		spawn("webui", g.log, nil, backoff.Policy{}, g.web.Run)
	}
	g.startConnectors(ctx)
	g.services.start(g, ctx, &wg, g.config())
	conns := g.connList()
	g.log.Info("gateway started", "version", Version, "connectors", len(conns)-failedConnectors(conns), "failed", failedConnectors(conns), "thingsboard", fmt.Sprintf("%s:%d", g.config().Thingsboard.Host, g.config().Thingsboard.Port))
	var result error
	select {
	case <-ctx.Done():
	case <-g.restart:
		result = ErrRestart
	}
	cancel()
	g.services.stop()
	g.stopConnectors()
	wg.Wait()
	// The link has stopped, so no new sync starts; stop the last one before the connectors' state goes away.
	g.mu.Lock()
	if g.syncCancel != nil {
		g.syncCancel()
	}
	g.mu.Unlock()
	g.syncs.Wait()
	if err := g.store.Close(); err != nil {
		g.log.Warn("closing storage", "err", err)
	}
	if err := g.stamper.Close(); err != nil {
		g.log.Warn("closing the stamper state", "err", err)
	}
	g.log.Info("gateway stopped")
	return result
}

// config returns the configuration that runs: the one New was given, or the last change applied since (for
// example a general_configuration pushed from ThingsBoard). It is never nil and never modified: a change stores
// a new *config.Config. Read it once per use when several fields must agree.
func (g *Gateway) config() *config.Config { return g.cfg.Load() }

// Config returns the configuration that runs (see config); callers must not modify it.
func (g *Gateway) Config() *config.Config { return g.config() }

// failedConnectors counts the connectors that could not be built.
func failedConnectors(conns []*runningConnector) int {
	n := 0
	for _, c := range conns {
		if c.failed != nil {
			n++
		}
	}
	return n
}

// requestRestart makes Run return ErrRestart after delay.
func (g *Gateway) requestRestart(delay time.Duration) {
	time.AfterFunc(delay, func() { g.restartOnce.Do(func() { close(g.restart) }) })
}

// Link returns the ThingsBoard link (for tests and the demo).
func (g *Gateway) Link() *uplink.Client { return g.link }

// Devices returns the device table.
func (g *Gateway) Devices() *DeviceTable { return g.devices }

// connectorsOfType returns the running connectors of a type.
func (g *Gateway) connectorsOfType(typ string) []*runningConnector {
	var out []*runningConnector
	for _, c := range g.connList() {
		if c.typ == typ && c.failed == nil {
			out = append(out, c)
		}
	}
	return out
}

// connectorByName returns the running connector with that name.
func (g *Gateway) connectorByName(name string) *runningConnector {
	for _, c := range g.connList() {
		if c.name == name && c.failed == nil {
			return c
		}
	}
	return nil
}

// connectorRawReportStrategy extracts a connector file's top-level "reportStrategy", if any.
func connectorRawReportStrategy(raw json.RawMessage) (json.RawMessage, bool) {
	var top struct {
		ReportStrategy json.RawMessage `json:"reportStrategy"`
	}
	if err := json.Unmarshal(raw, &top); err != nil || len(top.ReportStrategy) == 0 || string(top.ReportStrategy) == "null" {
		return nil, false
	}
	return top.ReportStrategy, true
}
