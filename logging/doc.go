// Package logging is the gateway's logging: one slog handler that routes every record by the logger it comes
// from (the Python gateway's service, tb_connection, storage and extension loggers, and one logger per connector)
// to the outputs configured for it (the console, or logs.json's files with size or timed rotation), each at its
// own level, and tees it to ThingsBoard as telemetry of the gateway device (remote logging, shared attribute
// RemoteLoggingLevel).
//
// A record's logger is known from the attributes the gateway attaches when it makes a logger: "connector" (a
// connector's logger), else "component" ("uplink" is tb_connection, "storage" is storage, "extension" is
// extension); anything else is the service logger.
//
// Remote logging is best effort: lines wait in a bounded queue (the oldest dropped first when it is full, every
// drop counted), are sent in batches by one goroutine at a bounded message rate and only with the gateway
// device's spare rate budget, and are never written to the gateway's storage.
package logging
