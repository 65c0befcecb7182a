package mqtt

// upgrade rewrites a configuration tree written in the Python gateway's old shape into its new shape, in place,
// as the Python gateway's backward-compatibility adapter does:
//   - top-level connectRequests, disconnectRequests, attributeRequests, attributeUpdates and serverSideRpc move
//     under requestsMapping; dataMapping is the old name of mapping;
//   - deviceNameJsonExpression / deviceTypeJsonExpression become a deviceInfo with source "message",
//     deviceNameTopicExpression / deviceTypeTopicExpression one with source "topic", and a bytes converter's
//     deviceNameExpression + deviceTypeExpression a deviceInfo without a source;
//   - attributeNameJsonExpression / attributeNameTopicExpression become attributeNameExpression with its source;
//   - extension-config becomes extensionConfig.
//
// A configuration already in the new shape is left as it is, so upgrade is idempotent.
func upgrade(tree map[string]any) {
	rm, ok := tree["requestsMapping"].(map[string]any)
	if !ok && tree["requestsMapping"] == nil {
		rm = map[string]any{}
	}
	for _, section := range requestSections {
		v, present := tree[section]
		if !present {
			continue
		}
		if rm == nil { // requestsMapping has a wrong type; leave everything for the decoder to report
			break
		}
		delete(tree, section)
		if cur, has := rm[section]; !has || isEmpty(cur) {
			rm[section] = v
		}
		tree["requestsMapping"] = rm
	}
	if _, has := tree["mapping"]; !has {
		if dm, old := tree["dataMapping"]; old {
			tree["mapping"] = dm
			delete(tree, "dataMapping")
		}
	}
	for _, item := range listOfMaps(tree["mapping"]) {
		if conv, ok := item["converter"].(map[string]any); ok {
			upgradeDeviceInfo(conv)
		}
	}
	if rm == nil {
		return
	}
	for _, section := range []string{"connectRequests", "disconnectRequests", "attributeRequests"} {
		for _, item := range listOfMaps(rm[section]) {
			upgradeDeviceInfo(item)
			if section == "attributeRequests" {
				upgradeAttributeName(item)
			}
		}
	}
}

var requestSections = []string{"connectRequests", "disconnectRequests", "attributeRequests", "attributeUpdates", "serverSideRpc"}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func listOfMaps(v any) []map[string]any {
	items, _ := v.([]any)
	var out []map[string]any
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func upgradeDeviceInfo(m map[string]any) {
	if ext, ok := m["extension-config"]; ok {
		if _, has := m["extensionConfig"]; !has {
			m["extensionConfig"] = ext
		}
		delete(m, "extension-config")
	}
	if _, has := m["deviceInfo"]; has {
		return
	}
	if name, ok := m["deviceNameExpression"]; ok {
		if typ, ok := m["deviceTypeExpression"]; ok {
			m["deviceInfo"] = map[string]any{"deviceNameExpression": name, "deviceProfileExpression": typ}
			delete(m, "deviceNameExpression")
			delete(m, "deviceTypeExpression")
			return
		}
	}
	di := map[string]any{}
	move := func(oldKey, source, exprKey, sourceKey string) {
		if v, ok := m[oldKey]; ok {
			delete(m, oldKey)
			if v != nil && v != "" {
				di[sourceKey] = source
				di[exprKey] = v
			}
		}
	}
	move("deviceNameJsonExpression", "message", "deviceNameExpression", "deviceNameExpressionSource")
	move("deviceTypeJsonExpression", "message", "deviceProfileExpression", "deviceProfileExpressionSource")
	move("deviceNameTopicExpression", "topic", "deviceNameExpression", "deviceNameExpressionSource")
	move("deviceTypeTopicExpression", "topic", "deviceProfileExpression", "deviceProfileExpressionSource")
	if len(di) > 0 {
		m["deviceInfo"] = di
	}
}

func upgradeAttributeName(m map[string]any) {
	for _, old := range []struct{ key, source string }{
		{"attributeNameJsonExpression", "message"}, {"attributeNameTopicExpression", "topic"},
	} {
		if v, ok := m[old.key]; ok {
			delete(m, old.key)
			if _, has := m["attributeNameExpression"]; !has && v != nil && v != "" {
				m["attributeNameExpressionSource"] = old.source
				m["attributeNameExpression"] = v
			}
		}
	}
}
