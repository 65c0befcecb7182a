package tbgateway

import "context"

// LiveReader is an optional capability of a Storage: a second reading lane, so that telemetry produced after the
// uplink (re)connected goes out beside the backlog of an outage instead of behind it ("live-first").
//
// The lane starts at the first NextLive call after the store was opened or rewound: from then on, every record
// Put that is live-eligible (defined below) belongs to the lane: NextLive hands it out, oldest first, and Next
// skips it.
// Records stored before the lane started are the backlog and come only from Next. Rewind also ends the lane: the
// records it handed out and that are not acknowledged are handed out again by Next, in their place in Put order,
// and the next NextLive call starts a new lane at the then newest record.
//
// A record is live-eligible when it carries telemetry only (Record.TelemetryOnly) and, at the time of its Put,
// the store held no unacknowledged connect or disconnect record of the same device. So a record handed out by
// NextLive never overtakes its device's connect (which would create the device with the wrong type) nor its
// disconnect (which would mark a device connected that is not); attributes, connects and disconnects always
// come from Next, in order. ThingsBoard keys telemetry by device, key and timestamp, so telemetry of one device
// that arrives partly out of order is stored exactly as if it had arrived in order; and it keeps attributes and
// telemetry apart, so telemetry overtaking an attribute update of its device changes neither.
//
// Everything else in the Storage contract is unchanged: records are durable before Put returns, leave only
// through Ack, and every record is handed out once (by one of the two lanes) in normal operation.
type LiveReader interface {
	// NextLive returns up to max live records not yet handed out, oldest first (max < 1 counts as 1), starting
	// the lane when it is not running (even when ctx is already done). It blocks until one is available, ctx is done (returning ctx.Err()) or
	// the store is closed (returning an error wrapping ErrStorageClosed).
	NextLive(ctx context.Context, max int) ([]Entry, error)
}

// TelemetryOnly reports whether the record is data with telemetry and no attributes: the only records the
// live-first lane may send out of their Put order.
func (r *Record) TelemetryOnly() bool {
	return r.Kind == KindData && len(r.Attributes) == 0 && len(r.Telemetry) > 0
}

// IsSessionEvent reports whether the record is a connect or a disconnect, which live telemetry of the same
// device must never overtake.
func (r *Record) IsSessionEvent() bool {
	return r.Kind == KindConnect || r.Kind == KindDisconnect
}
