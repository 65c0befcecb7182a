package runtime

import (
	"context"
	"encoding/json"
	"math"
	goruntime "runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/internal/hoststat"
)

// statisticsPublishTimeout is the shortest wait for a statistics telemetry's PUBACK.
const statisticsPublishTimeout = 10 * time.Second

// ownAttributesTimeout bounds the publish of the gateway device's own attributes after a connect.
const ownAttributesTimeout = 10 * time.Second

// statisticsState is the statistics' part of the Gateway.
type statisticsState struct {
	// cmds are the custom statistics commands of the local configuration, fixed at New: a configuration
	// pushed from ThingsBoard never changes them (see statisticsCommandsChanged).
	cmds []config.StatCommand
	conf string // the local thingsboard.statistics.configuration
	// reboot is the local gateway.rebootCommand, fixed at New as the commands are.
	reboot []string
	// loadErr is why the local commands file could not be used; logged once (loadLogged).
	loadErr    error
	loadLogged sync.Once
	// kick wakes both schedules: the link came up, or the settings changed.
	kick struct{ main, custom chan struct{} }

	mu      sync.Mutex
	lastSnd Stats // counters at the previous statistics telemetry ThingsBoard acknowledged, for the deltas
	cpu     cpuSampler
	failing map[string]bool // custom commands whose last run failed, for logging once per state change
}

// init sets the state up for cfg, the local configuration.
func (s *statisticsState) init(cfg *config.Config) {
	s.cmds, s.conf, s.failing = cfg.StatisticsCommands, cfg.Thingsboard.Statistics.Configuration, map[string]bool{}
	s.reboot, s.loadErr = cfg.Gateway.RebootCommand, cfg.StatisticsCommandsErr
	s.kick.main, s.kick.custom = make(chan struct{}, 1), make(chan struct{}, 1)
}

// statisticsCommandsChanged reports whether next, a configuration pushed from ThingsBoard (decoded with
// config.WithSection, so its commands are its inline thingsboard.statistics.commands only), would change the
// custom statistics commands: a "commands" list that differs from the commands in force (those of the local
// configuration, which general_configuration echoes), or another "configuration" file. Remote configuration
// refuses that part of a change (decisions.md, Security: remote changes may not set commands to run); the
// periods and the enable switches may change, and the commands in force stay.
func (g *Gateway) statisticsCommandsChanged(next *config.Config) bool {
	st := next.Thingsboard.Statistics
	if commandsFile(st.Configuration) != commandsFile(g.stats.conf) {
		return true
	}
	return st.HasCommands && !slices.EqualFunc(next.StatisticsCommands, g.stats.cmds, func(a, b config.StatCommand) bool {
		return a.Attribute == b.Attribute && a.Timeout == b.Timeout && slices.Equal(a.Argv, b.Argv)
	})
}

// commandsFile is the statistics commands file as general_configuration shows it: "statistics.json" (the
// Python gateway's name) when none is set.
func commandsFile(name string) string {
	if name == "" {
		return "statistics.json"
	}
	return name
}

// commandsAttr is the commands in force in the shape of the Python gateway's statistics file, for
// general_configuration.
func (g *Gateway) commandsAttr() []any {
	out := make([]any, 0, len(g.stats.cmds))
	for _, c := range g.stats.cmds {
		out = append(out, map[string]any{"attributeOnGateway": c.Attribute, "command": c.Argv, "timeout": c.Timeout.Seconds()})
	}
	return out
}

// statisticsChanged makes the statistics schedules read their settings again (enable, enableCustom, the
// periods) from the running configuration; a change applied while the gateway runs calls it.
func (g *Gateway) statisticsChanged() {
	for _, ch := range []chan struct{}{g.stats.kick.main, g.stats.kick.custom} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// statSettings are the statistics settings in force.
type statSettings struct {
	enable, custom       bool
	period, customPeriod time.Duration
}

func (g *Gateway) statSettings() statSettings {
	st := g.config().Thingsboard.Statistics
	s := statSettings{
		enable:       st.Enable,
		custom:       st.EnableCustom && len(g.stats.cmds) > 0,
		period:       time.Duration(st.StatsSendPeriodInSeconds) * time.Second,
		customPeriod: time.Duration(st.CustomStatsSendPeriodInSeconds) * time.Second,
	}
	if g.opts.StatisticsPeriod > 0 {
		s.period = g.opts.StatisticsPeriod
	}
	return s
}

// runStatistics sends the statistics telemetry (machineStats, serviceStats, connectorsStats) every
// statsSendPeriodInSeconds and the custom commands' values every customStatsSendPeriodInSeconds while each is
// enabled, until ctx ends. Each is sent first when the link is up after the start, as the Python gateway
// sends them when its statistics start.
func (g *Gateway) runStatistics(ctx context.Context) error {
	if err := g.stats.loadErr; err != nil {
		g.stats.loadLogged.Do(func() {
			g.log.Error("custom statistics commands not loaded; the gateway runs without them", "err", err)
		})
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		periodic(ctx, func() (time.Duration, bool) { s := g.statSettings(); return s.period, s.enable },
			g.sendStatistics, g.stats.kick.main)
	})
	wg.Go(func() {
		periodic(ctx, func() (time.Duration, bool) { s := g.statSettings(); return s.customPeriod, s.custom },
			g.sendCustomStatistics, g.stats.kick.custom)
	})
	wg.Wait()
	return nil
}

// periodic calls send at once and then every period while settings reports it enabled, until ctx ends. A
// send that returns false (the link is down) is tried again on the next kick (the link came up) or at the
// next period, whichever comes first; a kick also makes it read settings again, so a new period counts from
// the last send.
func periodic(ctx context.Context, settings func() (time.Duration, bool), send func(context.Context) bool, kick <-chan struct{}) {
	due := true
	var last time.Time
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		period, on := settings()
		if on && due && send(ctx) {
			due, last = false, time.Now()
		}
		wait := period
		if !last.IsZero() && !due {
			wait = max(0, time.Until(last.Add(period)))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			due = true
		case <-kick:
		}
	}
}

// sendStatistics publishes one statistics telemetry; it reports false when the link is down or the publish
// failed, and the counts then go with the next one (they are deltas since the last acknowledged send).
func (g *Gateway) sendStatistics(ctx context.Context) bool {
	if !g.link.Connected() {
		return false
	}
	period := g.statSettings().period
	values, next := g.statisticsTelemetry()
	// A publish that times out waiting for its PUBACK may still be delivered, and its counts would then be
	// sent twice; a wait far longer than a PUBACK takes makes that a lost-connection case only.
	pctx, cancel := context.WithTimeout(ctx, max(period, statisticsPublishTimeout))
	defer cancel()
	if err := g.link.PublishOwnTelemetry(pctx, g.now().UnixMilli(), values); err != nil {
		if ctx.Err() == nil {
			g.log.Warn("sending statistics telemetry failed; the counts are carried to the next period", "err", err)
		}
		return false
	}
	g.stats.mu.Lock()
	g.stats.lastSnd = next
	g.stats.mu.Unlock()
	return true
}

// statisticsTelemetry builds the statistics values in the Python gateway's shape: JSON objects machineStats,
// serviceStats and connectorsStats (one object per connector name) with the Python gateway's keys, counters
// as deltas since the last acknowledged send, gauges as current values; our own keys follow theirs in each
// object. It returns the counters to keep once the telemetry is acknowledged.
func (g *Gateway) statisticsTelemetry() (map[string]any, Stats) {
	st := g.Stats()
	g.stats.mu.Lock()
	p := g.stats.lastSnd
	cpuPct := g.stats.cpu.sample()
	g.stats.mu.Unlock()
	u, pu := st.Uplink, p.Uplink
	machine := g.machineStats()
	machine["gwProcessCpuUsage"] = cpuPct
	machine["msgsSentToPlatform"] = (u.Messages + u.OwnMessages) - (pu.Messages + pu.OwnMessages)
	machine["msgsReceivedFromPlatform"] = u.Received - pu.Received
	machine["allBytesSentToTB"] = u.SentBytes - pu.SentBytes
	machine["allReceivedBytesFromTB"] = u.ReceivedBytes - pu.ReceivedBytes
	machine["goroutines"] = goruntime.NumGoroutine()
	machine["gwGoMemory"] = goMemoryBytes()
	service := map[string]any{
		"storageMsgPulled":     u.Pulled - pu.Pulled,
		"storageMsgCount":      st.Storage.Count,
		"platformMsgPushed":    u.Records - pu.Records,
		"platformAttrProduced": u.AttrDatapoints - pu.AttrDatapoints,
		"platformTsProduced":   (u.Datapoints - u.AttrDatapoints) - (pu.Datapoints - pu.AttrDatapoints),
		// ours
		"storageMsgDropped":       st.Storage.Dropped + st.Storage.Refused,
		"platformMessagesAcked":   u.Acks - pu.Acks,
		"platformDatapointsSent":  u.Datapoints - pu.Datapoints,
		"platformDeadLetters":     u.DeadRecords + u.DeadValues,
		"platformRedelivered":     u.Redelivered,
		"platformReconnects":      u.Reconnects,
		"devices":                 st.Devices,
		"reportStrategyFiltered":  st.Report.Filtered,
		"gatewayUptimeSeconds":    st.UptimeSeconds,
		"downlinkMessagesDropped": u.DownlinkDropped,
	}
	conns := make(map[string]any, len(st.Connectors))
	for name, c := range st.Connectors {
		pc := p.Connectors[name]
		faults := c.Faults - min(pc.Faults, c.Faults) // the counter restarts when the connector is rebuilt
		invalid := c.Invalid - pc.Invalid
		m := map[string]any{
			"connectorMsgsReceived":  c.RecordsReceived - pc.RecordsReceived,
			"connectorBytesReceived": c.BytesReceived - pc.BytesReceived,
			"convertersMsgProcessed": (c.RecordsReceived - c.Invalid) - (pc.RecordsReceived - pc.Invalid),
			"convertersAttrProduced": c.AttrReceived - pc.AttrReceived,
			"convertersTsProduced":   c.TsReceived - pc.TsReceived,
			"convertersMsgDropped":   invalid,
			"storageMsgPushed":       c.RecordsStored - pc.RecordsStored,
			"connectorsErrors":       (c.StorageErrors + c.Restarts) - (pc.StorageErrors + pc.Restarts) + faults,
			"convertersErrors":       invalid,
			// ours
			"datapointsStored":   c.Datapoints - pc.Datapoints,
			"deviceFaults":       faults,
			"deviceFaultsActive": c.Active,
			"restarts":           c.Restarts,
			"state":              c.State,
		}
		if c.Error != "" {
			m["error"] = c.Error
		}
		conns[name] = m
	}
	return map[string]any{
		"machineStats":    rawJSON(machine),
		"serviceStats":    rawJSON(service),
		"connectorsStats": rawJSON(conns),
	}, st
}

// machineStats reads the machine's figures: totalCpuUsage, diskUsage, freeMemory (which the Python gateway
// fills with the share of memory in use, in percent), freeDisk, gwMemory (the process's resident memory as a
// share of the machine's) and gwProcessMemoryFullInfo. A figure that cannot be read is left out.
func (g *Gateway) machineStats() map[string]any {
	m := map[string]any{}
	sys := hoststat.System()
	if l, err := sys.LoadAvg(); err == nil {
		m["totalCpuUsage"] = l.CPUPercent(goruntime.NumCPU())
	}
	if d, err := hoststat.DiskUsage(g.statisticsDiskPath()); err == nil {
		m["diskUsage"] = d.UsedPercent()
		m["freeDisk"] = hoststat.HumanBytes(d.Free)
	}
	mem, memErr := sys.Memory()
	if memErr == nil {
		m["freeMemory"] = mem.UsedPercent()
	}
	if pm, err := sys.SelfMemory(); err == nil {
		if memErr == nil {
			m["gwMemory"] = roundTo(float64(pm.RSS)/float64(mem.Total)*100, 1)
		}
		m["gwProcessMemoryFullInfo"] = pm.Map()
	}
	return m
}

// statisticsDiskPath is the folder whose filesystem the disk figures describe: the gateway's data folder.
func (g *Gateway) statisticsDiskPath() string {
	if p := g.config().Gateway.DataFolderPath; p != "" {
		return p
	}
	return g.config().Dir
}

// cpuSampler turns the process's CPU time into psutil's cpu_percent(interval=None): the CPU time used since
// the previous sample over the wall time passed, in percent (above 100 when several cores work), 0 the first
// time.
type cpuSampler struct {
	cpu  time.Duration
	wall time.Time
}

func (c *cpuSampler) sample() float64 {
	cpu, err := hoststat.ProcessCPU()
	now := time.Now()
	if err != nil {
		return 0
	}
	prevCPU, prevWall := c.cpu, c.wall
	c.cpu, c.wall = cpu, now
	if prevWall.IsZero() || !now.After(prevWall) {
		return 0
	}
	return roundTo(float64(cpu-prevCPU)/float64(now.Sub(prevWall))*100, 1)
}

// receivedCounters count what a connector's converters produced, for connectorsStats.
type receivedCounters struct {
	bytes, attrs, ts atomic.Uint64
}

// count adds the records handed to the gateway: their attribute and telemetry values and their size.
func (r *receivedCounters) count(recs []tbgateway.Record) {
	var bytes, attrs, ts uint64
	for i := range recs {
		attrs += uint64(len(recs[i].Attributes))
		bytes += uint64(len(recs[i].Device)) + valuesSize(recs[i].Attributes)
		for _, t := range recs[i].Telemetry {
			ts += uint64(len(t.Values))
			bytes += 8 + valuesSize(t.Values)
		}
	}
	r.bytes.Add(bytes)
	r.attrs.Add(attrs)
	r.ts.Add(ts)
}

// valuesSize estimates the bytes of keys and values without encoding them: a string by its length, a number
// as 8 bytes, a boolean as 1, anything else (a JSON object or list) by its raw size when known, else 8.
func valuesSize(m map[string]any) uint64 {
	var n uint64
	for k, v := range m {
		n += uint64(len(k))
		switch x := v.(type) {
		case string:
			n += uint64(len(x))
		case bool:
			n++
		case json.RawMessage:
			n += uint64(len(x))
		case tbgateway.RawJSON:
			n += uint64(len(x))
		default:
			n += 8
		}
	}
	return n
}

// roundTo rounds v to d decimals.
func roundTo(v float64, d int) float64 {
	p := math.Pow(10, float64(d))
	return math.Round(v*p) / p
}

// rawJSON encodes a map of counters; such maps always encode.
func rawJSON(v map[string]any) tbgateway.RawJSON {
	b, err := json.Marshal(v)
	if err != nil {
		return tbgateway.RawJSON(`{}`)
	}
	return b
}

// goMemoryBytes returns the memory the Go runtime holds from the system.
func goMemoryBytes() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// publishOwnAttributes sends the gateway device's own client attributes after a connect: "Version" as the
// Python gateway's remote configurator does, and, while statistics or custom statistics are enabled,
// "totalMemory", "totalDisk" (of the data folder's filesystem; psutil's "15.5G" strings) and "cpuCount" as its
// statistics do at start. It then wakes the statistics schedules, whose first send waits for the link.
func (g *Gateway) publishOwnAttributes(ctx context.Context) {
	defer g.statisticsChanged()
	ctx, cancel := context.WithTimeout(ctx, ownAttributesTimeout)
	defer cancel()
	attrs := map[string]any{"Version": Version}
	if st := g.config().Thingsboard.Statistics; st.Enable || st.EnableCustom {
		attrs["cpuCount"] = int64(goruntime.NumCPU())
		if m, err := hoststat.System().Memory(); err == nil {
			attrs["totalMemory"] = hoststat.HumanBytes(m.Total)
		}
		if d, err := hoststat.DiskUsage(g.statisticsDiskPath()); err == nil {
			attrs["totalDisk"] = hoststat.HumanBytes(d.Total)
		}
	}
	if err := g.link.PublishOwnAttributes(ctx, attrs); err != nil && ctx.Err() == nil {
		g.log.Warn("publishing the gateway's own attributes failed", "err", err)
	}
}
