// Package config loads the gateway's main configuration in the Python ThingsBoard IoT Gateway's own format:
// tb_gateway.json (or the deprecated tb_gateway.yaml) with its camelCase "thingsboard", "storage", "grpc" and
// "connectors" sections, and the connector files it lists. Our additions use the same style and never rename a
// Python key: thingsboard.reconnectMinDelaySeconds, reconnectMaxDelaySeconds, maxInflightMessages,
// deadLetterFile, storage.fullPolicy, storage.liveFirst and the top-level "gateway" and "webUI" sections (see the
// field docs).
//
// Contract:
//   - Absent keys take the Python gateway's code defaults (not the sample file's values where they differ).
//     A JSON null counts as absent for string keys and for objects; for numbers and booleans it is an error.
//   - A wrong type or an invalid value is an error that names the file, the key path, what was expected and what
//     was found: "FILE: KEY: expected X, found Y" (*Error). A file that does not parse is a *SyntaxError naming
//     the file, line and (for JSON) column. JSON and YAML get the same messages: both are decoded into one
//     generic tree that is then walked with key paths. Decoding never panics (fuzzed).
//   - Unknown keys are warnings "FILE: KEY: unknown key, ignored"; a known key whose value asks for something
//     not supported (remoteShell, managerEnabled) is a warning saying it is ignored. Warnings
//     never stop loading.
//   - The custom statistics commands (thingsboard.statistics.configuration's file, then an inline "commands"
//     list) are read by Load into StatisticsCommands; a file that cannot be used sets StatisticsCommandsErr
//     (reported by Check) and the gateway runs without them.
//   - Environment overrides (bare host, port, type, accessToken, ... and TB_GW_*), read through a caller-given
//     function, are applied after the file and before validation; their errors name the variable.
//   - Connector files are resolved against the main file's folder, must hold a JSON object, and are kept
//     undecoded (Connector.Raw): each connector package decodes and checks its own file.
//   - Validate does no I/O; Load does all the reading.
package config
