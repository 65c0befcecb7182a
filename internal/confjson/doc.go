// Package confjson is the one reader for the gateway's JSON configuration files: every connector file and the
// main file (whose YAML form is converted to the same tree). It is part of the connector kit.
//
// A file is parsed once into a generic tree (map[string]any, []any, string, bool, json.Number, nil; numbers keep
// their text) and then read through typed getters on *Object, which know the key path of every value.
//
// Contract:
//   - Every error names the file, the key path, what was expected and what was found:
//     "FILE: mapping[2].converter.type: expected one of json, bytes, custom, found "xml"" (*Error). A file that
//     does not parse is a *SyntaxError naming file, line and column.
//   - A getter that finds a wrong type records the error and returns its default, so the caller's code needs
//     no error checks between getters: it asks Decoder.Err once at the end.
//   - The first error stops (the default, for connector files): from then on getters return defaults and record
//     nothing. Options.MaxErrors > 1 (the main file) keeps several.
//   - Keys nobody read are collected as warnings "FILE: PATH: unknown key, ignored" when Object.Done is called;
//     Object.Ignore marks keys accepted without effect. Warnings never stop decoding.
//   - null counts as absent, and numbers written as text ("1883") are accepted, unless Options say otherwise.
//   - Decoding never panics, whatever the input (fuzzed); a nil *Object reads as empty.
//
// A connector factory decodes its file like this (no I/O; the runtime logs the warnings at start and
// check-config prints them, so both always agree):
//
//	func Decode(file string, raw []byte) (*Config, []string, error) {
//		d := confjson.New(file)
//		root, err := d.Root(raw)
//		if err != nil {
//			return nil, nil, err
//		}
//		cfg := &Config{}
//		cfg.Name = root.String("name", "")
//		root.Ignore("id", "configVersion", "enableRemoteLogging")
//		if root.Require("broker", "an object with the broker's host and port") {
//			root.Sub("broker", func(b *confjson.Object) {
//				cfg.Host = b.String("host", "")
//				cfg.Port = int(b.Int("port", 1883, 1, 65535))
//			})
//		}
//		for _, m := range root.Objects("mapping") {
//			if re := m.String("topicFilter", ""); re == "" {
//				m.Decoder().FailMissing(m.Key("topicFilter"), "an MQTT topic filter")
//			}
//			m.Done()
//		}
//		root.Done()
//		if err := d.Err(); err != nil {
//			return nil, d.WarningStrings(), err
//		}
//		return cfg, d.WarningStrings(), nil
//	}
package confjson
