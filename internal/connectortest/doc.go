// Package connectortest is the connector kit's test support: a recording Sink that fails on cue and the contract
// suite every connector's tests run.
//
// Sink records every Send (Attempts, Records), stamps and validates records as the runtime does, and on cue
// fails (FailNext, FailAll with StorageFull() or InvalidRecord()) or blocks until released (Block,
// WaitBlocked). Waits (WaitRecords, WaitAttempts, Await) wake on every change, so tests never sleep:
//
//	sink := connectortest.NewSink()
//	sink.FailNext(connectortest.StorageFull())
//	go conn.Run(ctx, sink)
//	publish(t, "sensors/a", `{"t": 21.5}`)
//	recs, err := sink.WaitRecords(ctx, 1) // stored by the retry after the refused Send
//
// Contract runs the delivery contract of tbgateway.Connector against a subject: Run returns nil on cancel (also
// during a blocked Send), no goroutine is left after Run returned, the device side is acknowledged only after
// Send returned nil, a retry after ErrStorageFull stores the same devices, keys and values, and downlink calls
// before Run and after it returned answer with an error, never a panic or a hang. A connector's test supplies
// the factory and a device-side driver set up against its peer:
//
//	func TestContract(t *testing.T) {
//		b := startBroker(t)           // the device side, started before Contract (its goroutines are not leaks)
//		pub := b.publisher(t)         // counts PUBACKs it receives
//		connectortest.Contract(t, connectortest.Subject{
//			New:     func(t *testing.T) tbgateway.Connector { return newConnector(t, b.addr) },
//			Ready:   func(ctx context.Context, t *testing.T, _ *connectortest.Sink) { b.waitSubscribed(ctx, t) },
//			Produce: func(ctx context.Context, t *testing.T) { pub.publish(ctx, t, "sensors/a", `{"t": 1}`) },
//			Acked:   pub.pubacks, // optional: nil where acknowledgements cannot be seen
//			Device:  "sensor-a",
//		})
//	}
//
// Contract's checks are subtests (RunReturnsNilOnCancel, NoGoroutineLeak, AckAfterSend,
// RetryAfterStorageFull, DownlinkBeforeRunAndAfterStop); it must not run in parallel with other tests of the
// package. The package's own tests run the suite on deliberately broken fake connectors and assert each breach
// is reported by the check named for it.
package connectortest
