package runtime

import (
	"encoding/json"
	"testing"

	"github.com/tbgateway/tbgateway/config"
)

// TestConnectorAttrGRPCKey: the connector attribute shows that a gRPC connector has a key, never a key the user
// chose (a credential of the external connector); "auto" is shown as written.
func TestConnectorAttrGRPCKey(t *testing.T) {
	for key, want := range map[string]any{"": nil, "auto": "auto", "s3cret-key": RedactedValue} {
		c := config.Connector{Name: "ext", Type: "grpc", Configuration: "ext.json", Key: key, Raw: json.RawMessage(`{}`)}
		if got := connectorAttr(c, 1)["grpc_key"]; got != want {
			t.Errorf("key %q: grpc_key = %v, want %v", key, got, want)
		}
	}
}
