// Package simserver is a small simulated OPC-UA server for demos and quick in-process tests: gopcua's own server
// (security None, anonymous) with one object whose variables change every period.
//
// Address space: Root → Objects → "DemoDevice" (namespace 1, the object itself is the namespace's Objects node)
// with the variables, all string node ids in ns=1: Temperature (Double, a sine between 18 and 26 with a 60 s
// period), Humidity (Double, 40..60 stepping), Counter (Int64, +1 per period), Running (Boolean, toggles every
// 10 periods) and Status (String, "OK" or "WARN" when Temperature > 25). DemoConfig returns the connector
// configuration that maps it to the ThingsBoard device "OPC-UA Demo Device".
package simserver

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
)

// NamespaceName is the browse name of the simulated object (the namespace's Objects node).
const NamespaceName = "DemoDevice"

// Server is a running simulated server.
type Server struct {
	// URL is the endpoint, opc.tcp://host:port.
	URL string

	srv    *server.Server
	ns     *server.NodeNameSpace
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	tick   int64
	values map[string]any
}

// variables in the order they are created.
var variables = []string{"Temperature", "Humidity", "Counter", "Running", "Status"}

// Start listens on host:port (port must be a real port: gopcua's server does not report a kernel-chosen one)
// and changes the variables every period until Close or the end of ctx.
func Start(ctx context.Context, host string, port int, period time.Duration) (*Server, error) {
	if period <= 0 {
		return nil, fmt.Errorf("simserver: period %v must be positive", period)
	}
	srv := server.New(
		server.EndPoint(host, port),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.ServerName("tbgateway OPC-UA simulator"),
	)
	s := &Server{URL: fmt.Sprintf("opc.tcp://%s:%d", host, port), srv: srv, done: make(chan struct{})}
	s.values = s.compute(0)
	ns := server.NewNodeNameSpace(srv, NamespaceName)
	s.ns = ns
	root, err := srv.Namespace(0)
	if err != nil {
		return nil, fmt.Errorf("simserver: %w", err)
	}
	obj := ns.Objects()
	root.Objects().AddRef(obj, id.HasComponent, true)
	for _, name := range variables {
		n := ns.AddNewVariableStringNode(name, s.valueFunc(name))
		obj.AddRef(n, id.HasComponent, true)
	}
	rctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	if err := srv.Start(rctx); err != nil {
		cancel()
		return nil, fmt.Errorf("simserver: start on %s: %w", s.URL, err)
	}
	go s.run(rctx, period)
	return s, nil
}

func (s *Server) valueFunc(name string) func() *ua.DataValue {
	return func() *ua.DataValue {
		s.mu.Lock()
		v := s.values[name]
		s.mu.Unlock()
		return server.DataValueFromValue(v)
	}
}

// compute returns the variables' values at a tick.
func (s *Server) compute(tick int64) map[string]any {
	temp := 22 + 4*math.Sin(2*math.Pi*float64(time.Now().UnixMilli()%60000)/60000)
	temp = math.Round(temp*100) / 100
	status := "OK"
	if temp > 25 {
		status = "WARN"
	}
	return map[string]any{
		"Temperature": temp,
		"Humidity":    40 + float64(tick%21),
		"Counter":     tick,
		"Running":     (tick/10)%2 == 0,
		"Status":      status,
	}
}

func (s *Server) run(ctx context.Context, period time.Duration) {
	defer close(s.done)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		s.tick++
		s.values = s.compute(s.tick)
		s.mu.Unlock()
		for _, name := range variables {
			s.ns.ChangeNotification(ua.NewStringNodeID(s.ns.ID(), name))
		}
	}
}

// Close stops the changes and the server, and ends the subscriptions its clients left behind.
func (s *Server) Close() error {
	// Close the channels while the server still reads their requests: a request arriving after its context
	// ended would hold the channel (and Close) until gopcua's 10 s timeout.
	err := s.srv.Close()
	s.cancel()
	<-s.done
	// gopcua's server keeps a subscription running after its session and channel are gone.
	subs := s.srv.SubscriptionService
	subs.Mu.Lock()
	ids := make([]uint32, 0, len(subs.Subs))
	for id := range subs.Subs {
		ids = append(ids, id)
	}
	subs.Mu.Unlock()
	for _, id := range ids {
		subs.DeleteSubscription(id)
	}
	return err
}

// DemoConfig returns an opcua.json for the simulator at url: the device "OPC-UA Demo Device" (type
// "opcua-demo") with Status as an attribute and the other variables as time series, by subscription.
func DemoConfig(url string) []byte {
	ts := []map[string]string{}
	for _, v := range []string{"Temperature", "Humidity", "Counter", "Running"} {
		ts = append(ts, map[string]string{"key": lower(v), "type": "path", "value": "${" + v + "}"})
	}
	b, _ := json.MarshalIndent(map[string]any{
		"server": map[string]any{"url": url, "security": "None", "identity": map[string]any{"type": "anonymous"},
			"enableSubscriptions": true, "subCheckPeriodInMillis": 500},
		"mapping": []any{map[string]any{
			"deviceNodeSource":  "path",
			"deviceNodePattern": `Root\.Objects\.` + NamespaceName,
			"deviceInfo": map[string]any{"deviceNameExpression": "OPC-UA Demo Device", "deviceNameExpressionSource": "constant",
				"deviceProfileExpression": "opcua-demo", "deviceProfileExpressionSource": "constant"},
			"attributes": []any{map[string]string{"key": "status", "type": "path", "value": "${Status}"}},
			"timeseries": ts,
		}},
	}, "", "  ")
	return b
}

func lower(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]|0x20) + s[1:]
}
