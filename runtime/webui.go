package runtime

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/webui"
)

// newWebUI returns the web UI listener when the main file's webUI.enabled is true, else nil. It listens once
// Run spawns it; a change of the webUI section takes effect at the next start.
func newWebUI(g *Gateway, cfg *config.Config) *webui.Server {
	if !cfg.WebUI.Enabled {
		return nil
	}
	return webui.New(webui.Options{
		Addr:    cfg.WebUI.Listen,
		Metrics: gatewayCollector{g},
		Ready:   g.ready,
		Logger:  g.log.With("component", "webui"),
	})
}

// WebUI returns the gateway's web UI listener, or nil when webUI.enabled is false.
func (g *Gateway) WebUI() *webui.Server { return g.web }

// ready is /readyz's check: the link to ThingsBoard is up and the storage accepts records (as the last Put
// saw it: a storage that refused a record counts as full until a Put succeeds again). It names every reason.
func (g *Gateway) ready() error {
	var why []error
	if !g.link.Connected() {
		why = append(why, errors.New("not connected to ThingsBoard"))
	}
	if g.storageState().Full {
		why = append(why, errors.New("storage is full: new records are refused"))
	}
	return errors.Join(why...)
}

// metric is one gateway-wide metric read from a Stats snapshot.
type metric struct {
	name, help string
	typ        prometheus.ValueType
	val        func(g *Gateway, s *Stats) float64
}

// connMetric is one per-connector metric (labels connector, type).
type connMetric struct {
	name, help string
	typ        prometheus.ValueType
	val        func(c *ConnectorStats) float64
}

const (
	ctr   = prometheus.CounterValue
	gauge = prometheus.GaugeValue
)

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// gatewayMetrics are the statistics telemetry's counters and gauges (its key in parentheses) and the uplink's
// and storage's own; counters count since the gateway started, where the telemetry sends deltas.
var gatewayMetrics = []metric{
	{"tbgateway_thingsboard_connected", "1 while the link to ThingsBoard is up.", gauge, func(g *Gateway, _ *Stats) float64 { return b2f(g.link.Connected()) }},
	{"tbgateway_uplink_in_flight_messages", "Gateway-API messages published and awaiting their PUBACK.", gauge, func(g *Gateway, _ *Stats) float64 { return float64(g.link.InFlight()) }},
	{"tbgateway_uplink_messages_total", "Gateway-API messages published.", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.Messages) }},
	{"tbgateway_uplink_own_messages_total", "The gateway's own publishes (with the messages: msgsSentToPlatform).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.OwnMessages) }},
	{"tbgateway_uplink_acks_total", "Successful PUBACKs of gateway-API messages (platformMessagesAcked).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.Acks) }},
	{"tbgateway_uplink_records_total", "Records published to ThingsBoard (platformMsgPushed).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.Records) }},
	{"tbgateway_uplink_datapoints_total", "Values published to ThingsBoard (platformDatapointsSent).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.Datapoints) }},
	{"tbgateway_uplink_attribute_datapoints_total", "Values published as attributes (platformAttrProduced).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.AttrDatapoints) }},
	{"tbgateway_uplink_telemetry_datapoints_total", "Values published as telemetry (platformTsProduced).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.Datapoints - s.Uplink.AttrDatapoints) }},
	{"tbgateway_uplink_sent_bytes_total", "Payload bytes published (allBytesSentToTB).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.SentBytes) }},
	{"tbgateway_uplink_received_messages_total", "Messages ThingsBoard sent to the gateway (msgsReceivedFromPlatform).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.Received) }},
	{"tbgateway_uplink_received_bytes_total", "Payload bytes ThingsBoard sent (allReceivedBytesFromTB).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.ReceivedBytes) }},
	{"tbgateway_uplink_pulled_records_total", "Records read from the storage for sending (storageMsgPulled).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.Pulled) }},
	{"tbgateway_uplink_dead_messages_total", "Messages ThingsBoard rejected as malformed.", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.DeadMessages) }},
	{"tbgateway_uplink_dead_records_total", "Records written to the dead-letter file (platformDeadLetters with dead values).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.DeadRecords) }},
	{"tbgateway_uplink_dead_values_total", "Values that could never be sent (platformDeadLetters with dead records).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.DeadValues) }},
	{"tbgateway_uplink_isolations_total", "Rejected messages of several records re-sent one record per message.", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.Isolations) }},
	{"tbgateway_uplink_redelivered_records_total", "Records in flight when a link dropped, sent again (platformRedelivered).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.Redelivered) }},
	{"tbgateway_uplink_rate_limited_total", "PUBACKs saying a rate limit or quota was hit.", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.RateLimited) }},
	{"tbgateway_uplink_reconnects_total", "Connections to ThingsBoard after the first (platformReconnects).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.Reconnects) }},
	{"tbgateway_uplink_connect_failures_total", "Failed connection attempts (network, TLS).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.ConnectFailures) }},
	{"tbgateway_uplink_connect_rejected_total", "Connection attempts refused by ThingsBoard.", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.Rejected) }},
	{"tbgateway_uplink_ack_timeouts_total", "Links dropped for a missing PUBACK.", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.AckTimeouts) }},
	{"tbgateway_uplink_downlink_dropped_total", "Server messages dropped: queue full or unparsable (downlinkMessagesDropped).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.DownlinkDropped) }},
	{"tbgateway_uplink_errors_total", "Other uplink failures (storage acknowledgement, reply publish).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Uplink.Errors) }},
	{"tbgateway_storage_records", "Records stored and not yet acknowledged by ThingsBoard (storageMsgCount).", gauge, func(_ *Gateway, s *Stats) float64 { return float64(s.Storage.Count) }},
	{"tbgateway_storage_dropped_records_total", "Records dropped by the drop-oldest policy (storageMsgDropped with refused).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Storage.Dropped) }},
	{"tbgateway_storage_refused_records_total", "Records refused by a full storage (storageMsgDropped with dropped).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Storage.Refused) }},
	{"tbgateway_storage_redelivered_records_total", "Records handed out again after a rewind or a restart.", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Storage.Redelivered) }},
	{"tbgateway_storage_full", "1 while the storage refuses new records.", gauge, func(_ *Gateway, s *Stats) float64 { return b2f(s.StorageState.Full) }},
	{"tbgateway_storage_dropping", "1 while the storage drops its oldest records for new ones.", gauge, func(_ *Gateway, s *Stats) float64 { return b2f(s.StorageState.Dropping) }},
	{"tbgateway_storage_full_episodes_total", "Times the storage became full.", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.StorageState.FullEpisodes) }},
	{"tbgateway_storage_drop_episodes_total", "Times the storage began dropping.", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.StorageState.DropEpisodes) }},
	{"tbgateway_report_filtered_values_total", "Values held back by the report strategy (reportStrategyFiltered).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Report.Filtered) }},
	{"tbgateway_report_resent_values_total", "Values re-sent by the report strategy's periodic loop.", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Report.Resent) }},
	{"tbgateway_report_emit_errors_total", "Failed emits of the report strategy (re-sent at the next period).", ctr, func(_ *Gateway, s *Stats) float64 { return float64(s.Report.EmitErrors) }},
	{"tbgateway_report_cached_values", "Values in the report strategy's cache.", gauge, func(_ *Gateway, s *Stats) float64 { return float64(s.Report.Cached) }},
	{"tbgateway_uptime_seconds", "Seconds since the gateway started (gatewayUptimeSeconds).", gauge, func(_ *Gateway, s *Stats) float64 { return float64(s.UptimeSeconds) }},
}

// connectorMetrics are the statistics telemetry's connectorsStats (its key in parentheses).
var connectorMetrics = []connMetric{
	{"tbgateway_connector_records_received_total", "Records the connector handed to the gateway, valid or not (connectorMsgsReceived).", ctr, func(c *ConnectorStats) float64 { return float64(c.RecordsReceived) }},
	{"tbgateway_connector_received_bytes_total", "Estimated size of those records (connectorBytesReceived).", ctr, func(c *ConnectorStats) float64 { return float64(c.BytesReceived) }},
	{"tbgateway_connector_attributes_received_total", "Attribute values received (convertersAttrProduced).", ctr, func(c *ConnectorStats) float64 { return float64(c.AttrReceived) }},
	{"tbgateway_connector_telemetry_received_total", "Telemetry values received (convertersTsProduced).", ctr, func(c *ConnectorStats) float64 { return float64(c.TsReceived) }},
	{"tbgateway_connector_invalid_records_total", "Records refused as invalid (convertersMsgDropped, convertersErrors).", ctr, func(c *ConnectorStats) float64 { return float64(c.Invalid) }},
	{"tbgateway_connector_records_stored_total", "Records stored (storageMsgPushed).", ctr, func(c *ConnectorStats) float64 { return float64(c.RecordsStored) }},
	{"tbgateway_connector_datapoints_stored_total", "Values stored (datapointsStored).", ctr, func(c *ConnectorStats) float64 { return float64(c.Datapoints) }},
	{"tbgateway_connector_storage_errors_total", "Records the storage failed to take.", ctr, func(c *ConnectorStats) float64 { return float64(c.StorageErrors) }},
	{"tbgateway_connector_restarts_total", "Restarts after a failure (restarts).", ctr, func(c *ConnectorStats) float64 { return float64(c.Restarts) }},
	{"tbgateway_connector_device_faults_total", "Device faults since the connector was built (deviceFaults).", ctr, func(c *ConnectorStats) float64 { return float64(c.Faults) }},
	{"tbgateway_connector_device_faults_active", "Devices, addresses, nodes or topics failing now (deviceFaultsActive).", gauge, func(c *ConnectorStats) float64 { return float64(c.Active) }},
}

var (
	connLabels     = []string{"connector", "type"}
	connStateDesc  = prometheus.NewDesc("tbgateway_connector_state", "1 for the connector's current state (running, restarting, failed), 0 for the others.", []string{"connector", "type", "state"}, nil)
	devicesDesc    = prometheus.NewDesc("tbgateway_devices", "Devices in the device table by connector and device type.", []string{"connector", "device_type"}, nil)
	gatewayDescs   = descs(len(gatewayMetrics), func(i int) (string, string, []string) { return gatewayMetrics[i].name, gatewayMetrics[i].help, nil })
	connectorDescs = descs(len(connectorMetrics), func(i int) (string, string, []string) {
		return connectorMetrics[i].name, connectorMetrics[i].help, connLabels
	})
)

func descs(n int, at func(int) (string, string, []string)) []*prometheus.Desc {
	out := make([]*prometheus.Desc, n)
	for i := range out {
		name, help, labels := at(i)
		out[i] = prometheus.NewDesc(name, help, labels, nil)
	}
	return out
}

// gatewayCollector reads the gateway's counters at every scrape (Stats and the device table); it keeps no state
// and costs nothing between scrapes.
type gatewayCollector struct{ g *Gateway }

// Describe implements prometheus.Collector.
func (c gatewayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range append(append(gatewayDescs, connectorDescs...), connStateDesc, devicesDesc) {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c gatewayCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.g.Stats()
	for i, m := range gatewayMetrics {
		ch <- prometheus.MustNewConstMetric(gatewayDescs[i], m.typ, m.val(c.g, &s))
	}
	for name, cs := range s.Connectors {
		for i, m := range connectorMetrics {
			ch <- prometheus.MustNewConstMetric(connectorDescs[i], m.typ, m.val(&cs), name, cs.Type)
		}
		for _, st := range []string{StateRunning, StateRestarting, StateFailed} {
			ch <- prometheus.MustNewConstMetric(connStateDesc, gauge, b2f(cs.State == st), name, cs.Type, st)
		}
	}
	type key struct{ conn, typ string }
	counts := map[key]int{}
	for _, d := range c.g.devices.List() {
		counts[key{d.ConnectorName, d.Type}]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(devicesDesc, gauge, float64(n), k.conn, k.typ)
	}
}
