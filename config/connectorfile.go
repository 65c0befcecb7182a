package config

// CheckConnectorFile checks data, the content of the connector configuration file named file, as Load does for
// each connector: it must be a JSON object. The error is a *SyntaxError or *Error naming file; a nil error means
// data can be a Connector's Raw.
func CheckConnectorFile(file string, data []byte) error {
	tree, err := parseJSON(file, data)
	if err != nil {
		return err
	}
	if _, ok := tree.(map[string]any); !ok {
		return &Error{File: file, Path: "(top level)", Expected: "an object", Found: describe(tree)}
	}
	return nil
}
