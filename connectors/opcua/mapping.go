package opcua

import (
	"encoding/json"

	"github.com/gopcua/opcua/ua"
)

// mapping is one compiled "mapping" entry.
type mapping struct {
	idx     int
	cfg     *MappingConfig
	device  nodeRef
	name    nodeTemplate
	profile nodeTemplate
	keys    []*keySpec
	updates map[string]nodeRef    // attribute-update key -> node
	methods map[string]*RPCConfig // rpc_methods by name
}

// keySpec is one attribute or time series of a mapping: it reads the node its template names, or (isConst) it
// is a constant record value.
type keySpec struct {
	key      string
	attr     bool
	tmpl     nodeTemplate
	isConst  bool
	constant any
	tsLoc    string
	strategy json.RawMessage
}

func compileMapping(i int, mc *MappingConfig) (*mapping, error) {
	m := &mapping{idx: i, cfg: mc, updates: map[string]nodeRef{}, methods: map[string]*RPCConfig{}}
	var err error
	if m.device, err = parseNodeRef(mc.DeviceNodePattern); err != nil {
		return nil, err
	}
	if m.name, err = parseTemplate(mc.DeviceInfo.DeviceNameExpression); err != nil {
		return nil, err
	}
	if m.profile, err = parseTemplate(mc.DeviceInfo.DeviceProfileExpression); err != nil {
		return nil, err
	}
	add := func(keys []KeyConfig, attr bool) error {
		for j := range keys {
			k := &keySpec{key: keys[j].Key, attr: attr, tsLoc: keys[j].TimestampLocation, strategy: keys[j].ReportStrategy}
			if keys[j].Type == "constant" {
				k.isConst, k.constant = true, keys[j].Value
			} else {
				t, err := keys[j].source()
				if err != nil {
					return err
				}
				k.tmpl = t
			}
			m.keys = append(m.keys, k)
		}
		return nil
	}
	if err := add(mc.Attributes, true); err != nil {
		return nil, err
	}
	if err := add(mc.Timeseries, false); err != nil {
		return nil, err
	}
	for j := range mc.AttributeUpdates {
		ref, err := parseNodeExpr(mc.AttributeUpdates[j].Value)
		if err != nil {
			return nil, err
		}
		m.updates[mc.AttributeUpdates[j].Key] = ref
	}
	for j := range mc.RPCMethods {
		m.methods[mc.RPCMethods[j].Method] = &mc.RPCMethods[j]
	}
	return m, nil
}

// device is a mapping resolved against a server: its node, name, type and the nodes of its keys.
type device struct {
	m     *mapping
	name  string
	typ   string
	node  *ua.NodeID
	items []*item
}

// item is one key of a device bound to the node it reads (constants have no node).
type item struct {
	dev  *device
	spec *keySpec
	node *ua.NodeID
}
