package runtime

import (
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/report"
	"github.com/tbgateway/tbgateway/uplink"
)

// Stats is a snapshot of the gateway's counters, as served by the gateway_stats RPC.
type Stats struct {
	UptimeSeconds int64                     `json:"uptimeSeconds"`
	Devices       int                       `json:"devices"`
	Storage       tbgateway.StorageStats    `json:"storage"`
	StorageState  StorageState              `json:"storageState"`
	Uplink        uplink.Stats              `json:"uplink"`
	Report        report.Stats              `json:"reportStrategy"`
	Connectors    map[string]ConnectorStats `json:"connectors"`
}

// Connector states in ConnectorStats.
const (
	// StateRunning: the connector runs.
	StateRunning = "running"
	// StateRestarting: the connector failed and waits to be started again.
	StateRestarting = "restarting"
	// StateFailed: the connector's configuration is invalid; it never runs until the configuration changes.
	StateFailed = "failed"
)

// ConnectorStats are one connector's state and counters.
type ConnectorStats struct {
	Type string `json:"type"`
	// State is StateRunning, StateRestarting or StateFailed.
	State string `json:"state"`
	// Error is why a failed connector cannot run, or the last failure of a restarting one.
	Error           string `json:"error,omitempty"`
	RecordsReceived uint64 `json:"recordsReceived"`
	RecordsStored   uint64 `json:"recordsStored"`
	Datapoints      uint64 `json:"datapointsStored"`
	Invalid         uint64 `json:"invalidRecords"`
	StorageErrors   uint64 `json:"storageErrors"`
	Restarts        uint64 `json:"restarts"`
	// BytesReceived, AttrReceived and TsReceived are the size (estimated, see valuesSize) and the attribute
	// and telemetry values of the records the connector handed to the gateway, valid or not.
	BytesReceived uint64 `json:"bytesReceived"`
	AttrReceived  uint64 `json:"attributesReceived"`
	TsReceived    uint64 `json:"telemetryReceived"`
	// Faults (deviceFaults) and Active (deviceFaultsActive) come from a connector implementing
	// tbgateway.DeviceFaultReporter: faults counted since the connector was built, and devices, addresses, nodes
	// or topics failing now.
	tbgateway.DeviceFaultStats
}

// Stats returns the gateway's counters.
func (g *Gateway) Stats() Stats {
	s := Stats{
		UptimeSeconds: int64(time.Since(g.started) / time.Second),
		Devices:       len(g.devices.List()),
		Storage:       g.store.Stats(),
		StorageState:  g.storageState(),
		Uplink:        g.link.Stats(),
		Report:        g.filter.Stats(),
	}
	conns := g.connList()
	s.Connectors = make(map[string]ConnectorStats, len(conns))
	for _, c := range conns {
		state, reason := StateRunning, ""
		switch {
		case c.failed != nil:
			state, reason = StateFailed, c.failed.Error()
		case !c.stats.supervisor.Running() && c.stats.supervisor.LastError() != nil:
			state, reason = StateRestarting, c.stats.supervisor.LastError().Error()
		}
		s.Connectors[c.name] = ConnectorStats{
			Type:            c.typ,
			State:           state,
			Error:           reason,
			RecordsReceived: c.stats.recordsReceived.Load(),
			RecordsStored:   c.stats.recordsStored.Load(),
			Datapoints:      c.stats.datapoints.Load(),
			Invalid:         c.stats.invalid.Load(),
			StorageErrors:   c.stats.storeErrors.Load(),
			Restarts:        c.stats.supervisor.Restarts(),
			BytesReceived:   c.stats.received.bytes.Load(),
			AttrReceived:    c.stats.received.attrs.Load(),
			TsReceived:      c.stats.received.ts.Load(),
		}
		if r, ok := c.impl.(tbgateway.DeviceFaultReporter); ok {
			cs := s.Connectors[c.name]
			cs.DeviceFaultStats = r.DeviceFaults()
			s.Connectors[c.name] = cs
		}
	}
	return s
}
