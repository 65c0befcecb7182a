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

// ConnectorStats are one connector's counters.
type ConnectorStats struct {
	Type            string `json:"type"`
	RecordsReceived uint64 `json:"recordsReceived"`
	RecordsStored   uint64 `json:"recordsStored"`
	Datapoints      uint64 `json:"datapointsStored"`
	Invalid         uint64 `json:"invalidRecords"`
	StorageErrors   uint64 `json:"storageErrors"`
	Restarts        uint64 `json:"restarts"`
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
		Connectors:    make(map[string]ConnectorStats, len(g.conns)),
	}
	for _, c := range g.conns {
		s.Connectors[c.name] = ConnectorStats{
			Type:            c.typ,
			RecordsReceived: c.stats.recordsReceived.Load(),
			RecordsStored:   c.stats.recordsStored.Load(),
			Datapoints:      c.stats.datapoints.Load(),
			Invalid:         c.stats.invalid.Load(),
			StorageErrors:   c.stats.storeErrors.Load(),
			Restarts:        c.stats.supervisor.Restarts(),
		}
	}
	return s
}
