package tbemu

import (
	"maps"
	"slices"
	"time"
)

// connectorMetrics aggregates the latencies of one connector's entries
// between two reports. A minimum of 0 means "not set yet", as in
// ThingsBoard.
type connectorMetrics struct {
	count                      int64
	gwSum, gwMin, gwMax        int64
	transportSum, trMin, trMax int64
}

func (c *connectorMetrics) add(gw, transport int64) {
	c.count++
	c.gwSum += gw
	c.transportSum += transport
	if c.gwMin == 0 || gw < c.gwMin {
		c.gwMin = gw
	}
	c.gwMax = max(c.gwMax, gw)
	if c.trMin == 0 || transport < c.trMin {
		c.trMin = transport
	}
	c.trMax = max(c.trMax, transport)
}

// recordMetrics adds entries' metadata: gateway latency is publishedTs -
// receivedTs, transport latency is the server's receive time - publishedTs.
// Called with s.mu held.
func (ss *session) recordMetrics(meta []metadata, receivedMs int64) {
	if ss.metrics == nil {
		ss.metrics = map[string]*connectorMetrics{}
	}
	for _, m := range meta {
		c := ss.metrics[string(m.connector)]
		if c == nil {
			c = &connectorMetrics{}
			ss.metrics[string(m.connector)] = c
		}
		c.add(m.published-m.receivedTs, receivedMs-m.published)
	}
}

func (s *Server) reportGatewayMetricsLoop() {
	t := time.NewTicker(s.opts.GatewayMetricsInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			if s.reportGatewayMetrics(now) {
				s.notify()
			}
		}
	}
}

// reportGatewayMetrics writes each gateway session's aggregated metrics as
// the JSON telemetry key gatewayMetrics of the gateway and starts anew. It
// reports whether anything was written.
func (s *Server) reportGatewayMetrics(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	wrote := false
	for _, ss := range s.sessions {
		if len(ss.metrics) == 0 || ss.dev == nil {
			continue
		}
		b := []byte{'{'}
		for i, name := range slices.Sorted(maps.Keys(ss.metrics)) {
			c := ss.metrics[name]
			if i > 0 {
				b = append(b, ',')
			}
			b = appendQuoted(b, name)
			b = append(b, `:{"avgGwLatency":`...)
			b = appendInt(b, c.gwSum/c.count)
			b = append(b, `,"minGwLatency":`...)
			b = appendInt(b, c.gwMin)
			b = append(b, `,"maxGwLatency":`...)
			b = appendInt(b, c.gwMax)
			b = append(b, `,"avgTransportLatency":`...)
			b = appendInt(b, c.transportSum/c.count)
			b = append(b, `,"minTransportLatency":`...)
			b = appendInt(b, c.trMin)
			b = append(b, `,"maxTransportLatency":`...)
			b = appendInt(b, c.trMax)
			b = append(b, '}')
		}
		b = append(b, '}')
		ss.metrics = nil
		sr := ss.dev.series["gatewayMetrics"]
		if sr == nil {
			sr = &series{}
			ss.dev.series["gatewayMetrics"] = sr
		}
		sr.put(now.UnixMilli(), value{kind: KindJSON, str: string(b)}, s.opts.MaxValuesPerKey)
		wrote = true
	}
	return wrote
}
