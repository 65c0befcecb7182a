package runtime

import (
	"context"
	"encoding/json"
	goruntime "runtime"
	"runtime/metrics"
	"time"

	"github.com/tbgateway/tbgateway"
)

// statisticsPublishTimeout is the shortest wait for a statistics telemetry's PUBACK.
const statisticsPublishTimeout = 10 * time.Second

// ownAttributesTimeout bounds the publish of the gateway device's own attributes after a connect.
const ownAttributesTimeout = 10 * time.Second

// statsSnapshot holds the counters sent with the previous statistics telemetry; the telemetry carries the
// change since then, as the Python gateway resets its counters after each send.
type statsSnapshot struct {
	sent, acked, datapoints uint64
	conns                   map[string]ConnectorStats
}

// statisticsPeriod is how often the statistics telemetry is sent.
func (g *Gateway) statisticsPeriod() time.Duration {
	if g.opts.StatisticsPeriod > 0 {
		return g.opts.StatisticsPeriod
	}
	return time.Duration(g.config().Thingsboard.Statistics.StatsSendPeriodInSeconds) * time.Second
}

// runStatistics sends the gateway device's statistics telemetry every period while the link is up, until ctx
// ends. A period whose publish fails is folded into the next one (the counters are deltas since the last send
// that ThingsBoard acknowledged).
func (g *Gateway) runStatistics(ctx context.Context) error {
	period := g.statisticsPeriod()
	tick := time.NewTicker(period)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if !g.link.Connected() {
			continue
		}
		values, next := g.statisticsTelemetry()
		// A publish that times out waiting for its PUBACK may still be delivered, and its counts would then be
		// sent twice; a wait far longer than a PUBACK takes makes that a lost-connection case only.
		pctx, cancel := context.WithTimeout(ctx, max(period, statisticsPublishTimeout))
		err := g.link.PublishOwnTelemetry(pctx, g.now().UnixMilli(), values)
		cancel()
		switch {
		case err == nil:
			g.statsMu.Lock()
			g.lastSnd = next
			g.statsMu.Unlock()
			if failing {
				g.log.Info("statistics telemetry sent again")
			}
			failing = false
		case ctx.Err() != nil:
			return nil
		case !failing:
			failing = true
			g.log.Warn("sending statistics telemetry failed; the counts are carried to the next period", "err", err)
		}
	}
}

// statisticsTelemetry builds the statistics values in the Python gateway's shape: JSON objects machineStats,
// serviceStats and connectorsStats (one object per connector name), with counters as deltas since the last
// acknowledged send and gauges (storageMsgCount, gwMemory, deviceFaultsActive) as current values. A connector's
// connectorsErrors counts, as in the Python gateway (where every error its logger writes counts), storage errors,
// restarts and device faults; deviceFaults is the device-fault part alone. It returns the snapshot to keep
// once the telemetry is acknowledged.
func (g *Gateway) statisticsTelemetry() (map[string]any, statsSnapshot) {
	st := g.Stats()
	g.statsMu.Lock()
	prev := g.lastSnd
	g.statsMu.Unlock()
	next := statsSnapshot{
		sent:       st.Uplink.Messages + st.Uplink.OwnMessages,
		acked:      st.Uplink.Acks,
		datapoints: st.Uplink.Datapoints,
		conns:      st.Connectors,
	}
	machine := map[string]any{
		"msgsSentToPlatform": next.sent - prev.sent,
		"gwMemory":           goMemoryBytes(),
		"goroutines":         goruntime.NumGoroutine(),
	}
	service := map[string]any{
		"storageMsgCount":         st.Storage.Count,
		"storageMsgDropped":       st.Storage.Dropped + st.Storage.Refused,
		"platformMsgPushed":       next.acked - prev.acked,
		"platformDatapointsSent":  next.datapoints - prev.datapoints,
		"platformDeadLetters":     st.Uplink.DeadRecords + st.Uplink.DeadValues,
		"platformRedelivered":     st.Uplink.Redelivered,
		"platformReconnects":      st.Uplink.Reconnects,
		"devices":                 st.Devices,
		"reportStrategyFiltered":  st.Report.Filtered,
		"gatewayUptimeSeconds":    st.UptimeSeconds,
		"downlinkMessagesDropped": st.Uplink.DownlinkDropped,
	}
	conns := make(map[string]any, len(st.Connectors))
	for name, c := range st.Connectors {
		p := prev.conns[name]
		faults := c.Faults - min(p.Faults, c.Faults) // the counter restarts when the connector is rebuilt
		m := map[string]any{
			"connectorMsgsReceived": c.RecordsReceived - p.RecordsReceived,
			"storageMsgPushed":      c.RecordsStored - p.RecordsStored,
			"datapointsStored":      c.Datapoints - p.Datapoints,
			"convertersMsgDropped":  c.Invalid - p.Invalid,
			"connectorsErrors":      (c.StorageErrors + c.Restarts) - (p.StorageErrors + p.Restarts) + faults,
			"deviceFaults":          faults,
			"deviceFaultsActive":    c.Active,
			"restarts":              c.Restarts,
			"state":                 c.State,
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
	}, next
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
// Python gateway's remote configurator does, and "cpuCount" as its statistics do at start.
func (g *Gateway) publishOwnAttributes(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, ownAttributesTimeout)
	defer cancel()
	attrs := map[string]any{
		"Version":  Version,
		"cpuCount": int64(goruntime.NumCPU()),
	}
	if err := g.link.PublishOwnAttributes(ctx, attrs); err != nil && ctx.Err() == nil {
		g.log.Warn("publishing the gateway's own attributes failed", "err", err)
	}
}
