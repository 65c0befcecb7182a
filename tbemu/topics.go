package tbemu

import "strings"

// ThingsBoard's MQTT topics, written from its documented behaviour.
const (
	topicTelemetry        = "v1/devices/me/telemetry"
	topicAttributes       = "v1/devices/me/attributes"
	topicAttrRequestPfx   = "v1/devices/me/attributes/request/"
	topicAttrResponsePfx  = "v1/devices/me/attributes/response/"
	topicAttrResponseSub  = "v1/devices/me/attributes/response/+"
	topicRPCRequestPfx    = "v1/devices/me/rpc/request/"
	topicRPCRequestSub    = "v1/devices/me/rpc/request/+"
	topicRPCResponsePfx   = "v1/devices/me/rpc/response/"
	topicRPCResponseSub   = "v1/devices/me/rpc/response/+"
	topicClaim            = "v1/devices/me/claim"
	topicTelemetryV2      = "v2/t"
	topicAttributesV2     = "v2/a"
	topicAttrRequestV2    = "v2/a/req/"
	topicAttrResponseV2   = "v2/a/res/"
	topicAttrResponseSub2 = "v2/a/res/+"
	topicRPCRequestV2     = "v2/r/req/"
	topicRPCRequestSubV2  = "v2/r/req/+"
	topicRPCResponseV2    = "v2/r/res/"
	topicRPCResponseSubV2 = "v2/r/res/+"

	topicGwConnect      = "v1/gateway/connect"
	topicGwDisconnect   = "v1/gateway/disconnect"
	topicGwTelemetry    = "v1/gateway/telemetry"
	topicGwAttributes   = "v1/gateway/attributes"
	topicGwAttrRequest  = "v1/gateway/attributes/request"
	topicGwAttrResponse = "v1/gateway/attributes/response"
	topicGwRPC          = "v1/gateway/rpc"
	topicGwClaim        = "v1/gateway/claim"
	topicGwPrefix       = "v1/gateway/"

	topicProvisionRequest  = "/provision/request"
	topicProvisionResponse = "/provision/response"
)

var acceptedFilters = map[string]bool{
	topicAttributes:            true,
	topicAttrResponseSub:       true,
	topicRPCRequestSub:         true,
	topicRPCResponseSub:        true,
	topicAttributesV2:          true,
	topicAttrResponseSub2:      true,
	topicRPCRequestSubV2:       true,
	topicRPCResponseSubV2:      true,
	topicGwAttributes:          true,
	topicGwRPC:                 true,
	topicGwAttrResponse:        true,
	"v2/fw/response/+/chunk/+": true,
	"v2/sw/response/+/chunk/+": true,
	"v2/fw/error":              true,
	"v2/sw/error":              true,
}

// acceptedFilter reports whether ThingsBoard accepts a subscription (exact
// strings only; a provisioning session may only await its response).
func acceptedFilter(f string, provision bool) bool {
	if provision {
		return f == topicProvisionResponse
	}
	return acceptedFilters[f]
}

// trimShort strips the optional /j or /p format suffix of a short topic.
func trimShort(t string) string {
	if strings.HasPrefix(t, "v2/") {
		if s, ok := strings.CutSuffix(t, "/j"); ok {
			return s
		}
		if s, ok := strings.CutSuffix(t, "/p"); ok {
			return s
		}
	}
	return t
}

// decimalID parses a non-negative decimal request id of a topic.
func decimalID(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
