package runtime

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	grpcconn "github.com/tbgateway/tbgateway/connectors/grpc"
)

// GRPCKeysFile holds the generated keys of gRPC connectors configured with "key": "auto", by connector name, in
// the gateway's data folder (the Python gateway's file name and format).
const GRPCKeysFile = "persistent_keys.json"

// newGRPCServer returns the gRPC server for external connectors when the main file's grpc.enabled is true,
// else nil. It listens once Run spawns it.
func newGRPCServer(g *Gateway, cfg *config.Config) *grpcconn.Server {
	c := cfg.GRPC
	if !c.Enabled {
		return nil
	}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	return grpcconn.NewServer(grpcconn.Options{
		Addr:               net.JoinHostPort(c.ServerHost, strconv.Itoa(c.ServerPort)),
		KeepAliveTime:      ms(c.KeepAliveTimeMs),
		KeepAliveTimeout:   ms(c.KeepAliveTimeoutMs),
		PermitWithoutCalls: c.KeepAlivePermitWithoutCalls,
		MinPingInterval:    ms(c.MinPingIntervalWithoutDataMs),
		Gateway:            &grpcHost{g: g, keysFile: filepath.Join(cfg.Gateway.DataFolderPath, GRPCKeysFile)},
		Logger:             g.log.With("component", "grpc"),
	})
}

// GRPCServer returns the gateway's gRPC server for external connectors, or nil when grpc.enabled is false.
func (g *Gateway) GRPCServer() *grpcconn.Server { return g.grpc }

// GRPCServer hands gRPC connectors the gateway's server (see grpcconn.Host).
func (s *connectorSink) GRPCServer() *grpcconn.Server { return s.g.grpc }

// grpcHost answers the gRPC server's questions about connectors.
type grpcHost struct {
	g        *Gateway
	keysFile string
	mu       sync.Mutex // the keys file
}

// ConnectorKey returns the configured "key" of the connector, or for "auto" the one kept in the keys file,
// generated and saved on first use.
func (h *grpcHost) ConnectorKey(name string) (string, error) {
	var entry *config.Connector
	h.g.connMu.RLock()
	for i := range h.g.known {
		if h.g.known[i].Name == name {
			entry = &h.g.known[i]
		}
	}
	h.g.connMu.RUnlock()
	switch {
	case entry == nil:
		return "", fmt.Errorf("gRPC connector %q: %w", name, ErrUnknownConnector)
	case entry.Key == "":
		return "", fmt.Errorf("gRPC connector %q: its entry in the main file has no \"key\" (a key of your choice, or \"auto\")", name)
	case entry.Key != "auto":
		return entry.Key, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := map[string]string{}
	b, err := os.ReadFile(h.keysFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return "", fmt.Errorf("gRPC connector %q: reading its key: %w", name, err)
	default:
		if err := json.Unmarshal(b, &keys); err != nil {
			return "", fmt.Errorf("gRPC connector %q: %s: not a JSON object of connector names and keys: %w", name, h.keysFile, err)
		}
	}
	if k := keys[name]; k != "" {
		return k, nil
	}
	keys[name] = rand.Text()[:16]
	out, _ := json.MarshalIndent(keys, "", "  ")
	if err := writeFileAtomic(h.keysFile, out); err != nil {
		return "", fmt.Errorf("gRPC connector %q: saving its generated key: %w", name, err)
	}
	h.g.log.Info("gRPC connector key generated: clients register with the key kept in the file", "connector", name, "file", h.keysFile)
	return keys[name], nil
}

// ConnectorID returns the id the connector attribute reports.
func (h *grpcHost) ConnectorID(name string) string {
	if c := h.g.connectorByName(name); c != nil {
		var conf map[string]any
		_ = json.Unmarshal(c.cfg.Raw, &conf)
		return connectorID(name, conf)
	}
	return connectorID(name, nil)
}

// ConnectorDevices lists the devices of the device table the connector owns.
func (h *grpcHost) ConnectorDevices(name string) []tbgateway.DeviceInfo {
	var out []tbgateway.DeviceInfo
	for _, d := range h.g.devices.ByConnector(name) {
		if !d.Disconnected {
			out = append(out, tbgateway.DeviceInfo{Name: d.Name, Type: d.Type})
		}
	}
	return out
}

// DeviceType returns the type of the connector's device in the device table, or "".
func (h *grpcHost) DeviceType(connector, device string) string {
	if d, ok := h.g.devices.Owner(device); ok && d.ConnectorName == connector {
		return d.Type
	}
	return ""
}
