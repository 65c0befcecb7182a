package runtime

import (
	"fmt"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
)

// connectorType finds the connector type that runs a main-config "connectors" entry. A "class" that a built-in
// type declares (tbgateway.ConnectorType.Classes) selects that type whatever "type" says, so the Python
// gateway's {"type": "custom", "class": "SerialConnector"} runs our serial connector. Otherwise a type that is
// built in runs and its "class" is ignored with a warning, as the Python gateway ignores "class" for its
// built-in types. A class that is neither is an error naming it and the three ways this gateway offers instead
// of loading Python code. found is false when the entry names no class and its type is not built in.
func connectorType(cc config.Connector) (ct tbgateway.ConnectorType, found bool, warning string, err error) {
	if cc.Class != "" {
		if ct, ok := tbgateway.LookupConnectorClass(cc.Class); ok {
			return ct, true, "", nil
		}
	}
	ct, found = tbgateway.LookupConnector(cc.Type)
	switch {
	case cc.Class == "":
		return ct, found, "", nil
	case found:
		return ct, true, fmt.Sprintf("connector %q: class %q ignored: type %s is built in", cc.Name, cc.Class, cc.Type), nil
	}
	return ct, false, "", fmt.Errorf("class %q (type %q) is a Python connector class, and this gateway does not "+
		"load Python code; use one of: (1) a connector written in Go and compiled in (README \"Writing a connector\", "+
		"docs/writing-a-connector.md; built in: %s), (2) an external connector in any language over the gRPC API "+
		"(connector type \"grpc\" and the main config's \"grpc\" section), (3) converters written in config on a "+
		"built-in connector (README \"Converters in config\")", cc.Class, cc.Type, builtInClasses())
}

// builtInClasses lists the Python classes the built-in types stand in for, for the error above.
func builtInClasses() string {
	out := ""
	for _, typ := range tbgateway.ConnectorTypes() {
		ct, _ := tbgateway.LookupConnector(typ)
		for _, class := range ct.Classes {
			if out != "" {
				out += ", "
			}
			out += fmt.Sprintf("%s (type %s)", class, typ)
		}
	}
	if out == "" {
		return "no Python classes"
	}
	return out
}
