// Package grpc is the gateway's gRPC API for connectors that run outside the gateway process, in any language,
// and the connector type "grpc" that stands for such a connector inside the gateway.
//
// The API is the Python ThingsBoard IoT Gateway's (proto/messages.proto: the same package "messages", service
// TBGatewayProtoService, message names and field numbers), so a client written against that gateway connects
// unchanged; the Go code in pb is generated from that file (make proto).
//
// Setup: the main file's "grpc" section with "enabled": true runs a Server (the runtime starts it); each entry of
// "connectors" with "type": "grpc" and a "key" (a key of your choice, or "auto": generated once and kept in
// persistent_keys.json in the data folder) is a Connector. A client registers with the key
// (RegisterConnectorMsg) and receives the connector's name, id and file (ConnectorConfigurationMsg); what it
// sends then goes through the connector's Sink like any connector's data, and the gateway's RPCs and shared
// attribute updates for its devices go to it.
//
// Two ways to talk:
//   - "stream" (unary, the Python gateway's): the call metadata "identifier" names the client's session; calls
//     of one session run one at a time; each reply holds the outcome of the request in "response" (status, and
//     the request's field, empty) and at most one message waiting for the client. A client with nothing to send
//     polls with a message holding only an empty "response".
//   - "session" (two-way stream, our addition): the client sends the same messages and gets one reply with
//     "response" for each, in order, plus every message for it (RPCs, attribute updates and answers) as soon as
//     it exists, without polling. Ending the stream unregisters its connector.
//
// Delivery: a reply with status SUCCESS to telemetry, attributes, connect or disconnect means the data is stored
// (Sink.Send returned nil); FAILURE means nothing of that message was stored (an invalid value, a full storage,
// no registration) and the client keeps it. Limits keep one client from making the gateway hold without bound:
// a session stream is read at most 64 messages ahead of storage (then its sends wait: HTTP/2 flow control), 256
// messages wait per client, 8 attribute requests per client, 64 calls per connection, 256 connections, 4 MiB
// per message. Bad messages are answered with an error or FAILURE, logged (rate-limited) naming the client and,
// once registered, the connector; the server and the other clients go on.
package grpc
