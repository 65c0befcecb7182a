package uplink

import "sync/atomic"

// Stats are the link's counters since New.
type Stats struct {
	// Messages and Datapoints count packed gateway-API messages published and the values they carried.
	Messages, Datapoints uint64
	// Acks counts successful PUBACKs of those messages.
	Acks uint64
	// OwnMessages counts the gateway's own publishes (device API, requests, RPC replies, connect).
	OwnMessages uint64
	// DeadMessages and DeadRecords count messages ThingsBoard rejected as malformed and the records in them;
	// DeadValues counts values that could never be sent (not encodable or bigger than a message).
	DeadMessages, DeadRecords, DeadValues uint64
	// Isolations counts messages of several records ThingsBoard rejected as malformed; their records were then
	// sent one per message, so only the bad one goes to the dead-letter file.
	Isolations uint64
	// Redelivered counts records that were in flight when a link dropped and are therefore sent again.
	Redelivered uint64
	// RateLimited counts PUBACKs saying a rate limit or quota was hit.
	RateLimited uint64
	// Reconnects counts connections that came up after the first; ConnectFailures and Rejected count failed
	// attempts (network/TLS, and refused by ThingsBoard); AckTimeouts counts links dropped for a missing PUBACK.
	Reconnects, ConnectFailures, Rejected, AckTimeouts uint64
	// DownlinkDropped counts server messages dropped because the downlink queue was full or unparsable.
	DownlinkDropped uint64
	// Errors counts other failures (storage ack, reply publish).
	Errors uint64
	// Pulled counts records read from the storage for sending (records read again after a reconnect count again).
	Pulled uint64
	// Records counts the records with a part in the gateway-API messages published.
	Records uint64
	// AttrDatapoints is the part of Datapoints published as attributes; the rest went as telemetry.
	AttrDatapoints uint64
	// SentBytes counts the payload bytes published (gateway-API and own messages); Received and ReceivedBytes
	// count the messages ThingsBoard sent to the gateway and their payload bytes.
	SentBytes, Received, ReceivedBytes uint64
}

type counters struct {
	messages, datapoints, acks, ownMessages            atomic.Uint64
	deadMessages, deadRecords, deadValues, redelivered atomic.Uint64
	rateLimited, reconnects, connectFailures, rejected atomic.Uint64
	ackTimeouts, downlinkDropped, errors, isolations   atomic.Uint64
	pulled, records, attrDatapoints, sentBytes         atomic.Uint64
	received, receivedBytes                            atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	s := &c.stats
	st := Stats{
		Messages: s.messages.Load(), Datapoints: s.datapoints.Load(), Acks: s.acks.Load(),
		OwnMessages: s.ownMessages.Load(), DeadMessages: s.deadMessages.Load(), DeadRecords: s.deadRecords.Load(),
		DeadValues: s.deadValues.Load(), Redelivered: s.redelivered.Load(), RateLimited: s.rateLimited.Load(),
		Reconnects: s.reconnects.Load(), ConnectFailures: s.connectFailures.Load(), Rejected: s.rejected.Load(),
		AckTimeouts: s.ackTimeouts.Load(), DownlinkDropped: s.downlinkDropped.Load(), Errors: s.errors.Load(),
		Isolations: s.isolations.Load(), Pulled: s.pulled.Load(), Records: s.records.Load(), AttrDatapoints: s.attrDatapoints.Load(),
		SentBytes: s.sentBytes.Load(), Received: s.received.Load(), ReceivedBytes: s.receivedBytes.Load(),
	}
	if st.Reconnects > 0 {
		st.Reconnects-- // the first connection is not a reconnect
	}
	return st
}
