package grpc

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/connectors/grpc/pb"
)

// value turns a typed KeyValueProto into a record value. JSON_V must hold a JSON object or array.
func value(kv *pb.KeyValueProto) (any, error) {
	switch kv.GetType() {
	case pb.KeyValueType_BOOLEAN_V:
		return kv.GetBoolV(), nil
	case pb.KeyValueType_LONG_V:
		return kv.GetLongV(), nil
	case pb.KeyValueType_DOUBLE_V:
		d := kv.GetDoubleV()
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return nil, fmt.Errorf("key %q: double_v %v is not a number ThingsBoard stores", kv.GetKey(), d)
		}
		return d, nil
	case pb.KeyValueType_STRING_V:
		return kv.GetStringV(), nil
	case pb.KeyValueType_JSON_V:
		j := strings.TrimSpace(kv.GetJsonV())
		if j == "" || (j[0] != '{' && j[0] != '[') || !json.Valid([]byte(j)) {
			return nil, fmt.Errorf("key %q: json_v must be the text of a JSON object or array, found %.40q", kv.GetKey(), j)
		}
		return tbgateway.RawJSON(j), nil
	}
	return nil, fmt.Errorf("key %q: unknown value type %d", kv.GetKey(), kv.GetType())
}

// values turns a list of KeyValueProto into a map of record values; an empty key is an error.
func values(kvs []*pb.KeyValueProto) (map[string]any, error) {
	out := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		if strings.TrimSpace(kv.GetKey()) == "" {
			return nil, fmt.Errorf("a value has an empty key")
		}
		v, err := value(kv)
		if err != nil {
			return nil, err
		}
		out[kv.GetKey()] = v
	}
	return out, nil
}

// records turns the device messages of one FromConnectorMessage into records, in the order connect, telemetry,
// attributes, disconnect. A wrong value fails the whole message, naming the device and the key.
func records(m *pb.FromConnectorMessage) ([]tbgateway.Record, error) {
	var out []tbgateway.Record
	typ := "" // a device connected by this message keeps its type in the message's data
	if c := m.GetConnectMsg(); c != nil {
		typ = c.GetDeviceType()
		out = append(out, tbgateway.Record{Kind: tbgateway.KindConnect, Device: c.GetDeviceName(), DeviceType: typ})
	}
	typeOf := func(device string) string {
		if device == m.GetConnectMsg().GetDeviceName() {
			return typ
		}
		return ""
	}
	for _, t := range m.GetGatewayTelemetryMsg().GetMsg() {
		rec := tbgateway.Record{Device: t.GetDeviceName(), DeviceType: typeOf(t.GetDeviceName())}
		for _, l := range t.GetMsg().GetTsKvList() {
			vals, err := values(l.GetKv())
			if err != nil {
				return nil, fmt.Errorf("telemetry of device %q: %w", t.GetDeviceName(), err)
			}
			rec.Telemetry = append(rec.Telemetry, tbgateway.Telemetry{TS: l.GetTs(), Values: vals})
		}
		out = append(out, rec)
	}
	for _, a := range m.GetGatewayAttributesMsg().GetMsg() {
		vals, err := values(a.GetMsg().GetKv())
		if err != nil {
			return nil, fmt.Errorf("attributes of device %q: %w", a.GetDeviceName(), err)
		}
		out = append(out, tbgateway.Record{Device: a.GetDeviceName(), DeviceType: typeOf(a.GetDeviceName()), Attributes: vals})
	}
	if d := m.GetDisconnectMsg(); d != nil {
		out = append(out, tbgateway.Record{Kind: tbgateway.KindDisconnect, Device: d.GetDeviceName(), DeviceType: typeOf(d.GetDeviceName())})
	}
	return out, nil
}

// isData says whether the message carries device data or session events only (what one Send stores).
func isData(m *pb.FromConnectorMessage) bool {
	if m.GetRegisterConnectorMsg() != nil || m.GetUnregisterConnectorMsg() != nil || m.GetGatewayRpcResponseMsg() != nil ||
		m.GetGatewayAttributeRequestMsg() != nil || m.GetConnectorGetConnectedDevicesMsg() != nil || m.GetGatewayClaimMsg() != nil {
		return false
	}
	return hasData(m)
}

// hasData says whether the message carries device data or session events.
func hasData(m *pb.FromConnectorMessage) bool {
	return m.GetGatewayTelemetryMsg() != nil || m.GetGatewayAttributesMsg() != nil || m.GetConnectMsg() != nil || m.GetDisconnectMsg() != nil
}

// kv turns a record value (from ThingsBoard: bool, int64, float64, string, RawJSON) into a typed KeyValueProto.
func kv(key string, v any) *pb.KeyValueProto {
	out := &pb.KeyValueProto{Key: key}
	switch x := v.(type) {
	case bool:
		out.Type, out.BoolV = pb.KeyValueType_BOOLEAN_V, x
	case int64:
		out.Type, out.LongV = pb.KeyValueType_LONG_V, x
	case int:
		out.Type, out.LongV = pb.KeyValueType_LONG_V, int64(x)
	case float64:
		out.Type, out.DoubleV = pb.KeyValueType_DOUBLE_V, x
	case string:
		out.Type, out.StringV = pb.KeyValueType_STRING_V, x
	case tbgateway.RawJSON:
		out.Type, out.JsonV = pb.KeyValueType_JSON_V, string(x)
	case json.RawMessage:
		out.Type, out.JsonV = pb.KeyValueType_JSON_V, string(x)
	default:
		b, _ := json.Marshal(x)
		out.Type, out.JsonV = pb.KeyValueType_JSON_V, string(b)
	}
	return out
}

// kvs turns a map of values into KeyValueProtos.
func kvs(m map[string]any) []*pb.KeyValueProto {
	out := make([]*pb.KeyValueProto, 0, len(m))
	for k, v := range m {
		out = append(out, kv(k, v))
	}
	return out
}
