package connectortest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	tbgateway "github.com/tbgateway/tbgateway"
)

// Subject is what a connector's tests hand to Contract: how to build the connector and how to drive its device
// side (a broker, a Modbus server, an OPC-UA server, set up by the test before calling Contract).
type Subject struct {
	// New builds a new connector (no I/O) against the device side. Each check builds its own.
	New func(t *testing.T) tbgateway.Connector
	// Ready, optional, returns once a running connector will see what Produce emits (e.g. its subscription is
	// in place at the broker). sink is the connector's Sink. Without it, Produce is called as soon as Run
	// started.
	Ready func(ctx context.Context, t *testing.T, sink *Sink)
	// Produce makes the device side emit one new reading (publish a message, change a register, write a node)
	// that the connector must hand to Send. It returns once the device side has emitted it.
	Produce func(ctx context.Context, t *testing.T)
	// Acked, optional, returns how many readings the device side has seen acknowledged so far (e.g. PUBACKs to
	// the publishing device). Leave it nil where acknowledgements cannot be observed; the acknowledgement check
	// is then skipped.
	Acked func() int
	// Device names a device the connector owns, for the downlink checks; "" means "contract-device".
	Device string
	// Timeout bounds each check (a failure bound, never a pacing); 0 means 30 s.
	Timeout time.Duration
	// LeakOptions are extra goleak options for the goroutine check (e.g. goleak.IgnoreTopFunction for a
	// library's process-wide worker).
	LeakOptions []goleak.Option
}

func (s Subject) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 30 * time.Second
}

func (s Subject) device() string {
	if s.Device != "" {
		return s.Device
	}
	return "contract-device"
}

// Contract runs the checks every connector must pass, each as a subtest of t:
//
//   - RunReturnsNilOnCancel: cancelling Run's context, also while a Send is blocked (backpressure), makes Run
//     return nil.
//   - NoGoroutineLeak: after Run returned, no goroutine started by the connector is left (goleak).
//   - AckAfterSend (when Subject.Acked is set): the device side is not acknowledged while Send is blocked nor
//     after Send failed with ErrStorageFull, and is acknowledged after Send returned nil.
//   - RetryAfterStorageFull: after Send failed with ErrStorageFull, the connector sends again and what is stored
//     holds the same devices, keys and values as the refused call (timestamps may differ).
//   - DownlinkBeforeRunAndAfterStop: UpdateAttributes and HandleRPC (when implemented), called before Run and
//     after Run returned, return an error; they never panic or hang.
//
// Contract must not run in parallel with other tests of the package: the goroutine check sees every goroutine.
func Contract(t *testing.T, s Subject) {
	t.Helper()
	if s.New == nil || s.Produce == nil {
		t.Fatal("connectortest.Contract: Subject.New and Subject.Produce are required")
	}
	t.Run("RunReturnsNilOnCancel", func(t *testing.T) { checkCancel(t, s) })
	t.Run("NoGoroutineLeak", func(t *testing.T) { checkLeak(t, s) })
	t.Run("AckAfterSend", func(t *testing.T) { checkAck(t, s) })
	t.Run("RetryAfterStorageFull", func(t *testing.T) { checkRetry(t, s) })
	t.Run("DownlinkBeforeRunAndAfterStop", func(t *testing.T) { checkDownlink(t, s) })
}

// running is one connector under a check.
type running struct {
	t      *testing.T
	conn   tbgateway.Connector
	sink   *Sink
	cancel context.CancelFunc
	done   chan error
}

// start builds and runs a connector on a fresh Sink; stop (registered as cleanup too) cancels and waits.
func start(t *testing.T, ctx context.Context, s Subject, conn tbgateway.Connector) *running {
	t.Helper()
	runCtx, cancel := context.WithCancel(ctx)
	r := &running{t: t, conn: conn, sink: NewSink(), cancel: cancel, done: make(chan error, 1)}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				r.done <- fmt.Errorf("Run panicked: %v", p)
			}
		}()
		r.done <- conn.Run(runCtx, r.sink)
	}()
	t.Cleanup(func() { r.cancel(); <-r.done })
	if s.Ready != nil {
		s.Ready(ctx, t, r.sink)
	}
	return r
}

// stop cancels Run and returns what it returned; a Run that does not return within the check's bound fails.
func (r *running) stop(bound time.Duration) error {
	r.t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(bound):
		r.t.Fatalf("Run did not return within %v of its context being cancelled", bound)
	}
	return nil
}

func checkCtx(t *testing.T, s Subject) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), s.timeout())
	t.Cleanup(cancel)
	return ctx
}

func checkCancel(t *testing.T, s Subject) {
	ctx := checkCtx(t, s)
	r := start(t, ctx, s, s.New(t))
	s.Produce(ctx, t)
	if _, err := r.sink.WaitRecords(ctx, 1); err != nil {
		t.Fatalf("the connector stored nothing after Produce: %v", err)
	}
	if err := r.stop(s.timeout()); err != nil {
		t.Errorf("Run returned %v after its context was cancelled, want nil", err)
	}

	// Cancelled while Send is blocked: the Send returns ctx's error, Run still returns nil.
	r = start(t, ctx, s, s.New(t))
	release := r.sink.Block()
	defer release()
	s.Produce(ctx, t)
	if err := r.sink.WaitBlocked(ctx, 1); err != nil {
		t.Fatalf("the connector never called Send after Produce: %v", err)
	}
	if err := r.stop(s.timeout()); err != nil {
		t.Errorf("Run returned %v when cancelled during a blocked Send, want nil", err)
	}
}

func checkLeak(t *testing.T, s Subject) {
	ctx := checkCtx(t, s)
	opts := append([]goleak.Option{goleak.IgnoreCurrent()}, s.LeakOptions...)
	conn := s.New(t)
	r := start(t, ctx, s, conn)
	s.Produce(ctx, t)
	if _, err := r.sink.WaitRecords(ctx, 1); err != nil {
		t.Fatalf("the connector stored nothing after Produce: %v", err)
	}
	_ = r.stop(s.timeout())
	if err := goleak.Find(opts...); err != nil {
		t.Errorf("goroutines left after Run returned: %v", err)
	}
}

func checkAck(t *testing.T, s Subject) {
	if s.Acked == nil {
		t.Skip("Subject.Acked is nil: the device side's acknowledgements cannot be observed")
	}
	ctx := checkCtx(t, s)
	r := start(t, ctx, s, s.New(t))

	// While Send is blocked, nothing of this reading may be acknowledged.
	before := s.Acked()
	release := r.sink.Block()
	s.Produce(ctx, t)
	if err := r.sink.WaitBlocked(ctx, 1); err != nil {
		release()
		t.Fatalf("the connector never called Send after Produce: %v", err)
	}
	if n := s.Acked(); n != before {
		t.Errorf("the device side was acknowledged (%d -> %d) while Send had not returned", before, n)
	}
	// Refused by a full storage: still not acknowledged; the retry is stored, then acknowledged.
	r.sink.FailNext(StorageFull())
	attempts := len(r.sink.Attempts())
	release()
	if err := r.sink.WaitAttempts(ctx, attempts+1); err != nil {
		t.Fatalf("the blocked Send never returned: %v", err)
	}
	if a := r.sink.Attempts(); a[attempts].Err != nil {
		if n := s.Acked(); n != before {
			t.Errorf("the device side was acknowledged (%d -> %d) after Send failed with %v", before, n, a[attempts].Err)
		}
	}
	if _, err := r.sink.WaitRecords(ctx, 1); err != nil {
		t.Fatalf("the reading refused by a full storage was never stored: %v", err)
	}
	if err := eventually(ctx, func() bool { return s.Acked() > before }); err != nil {
		t.Errorf("the device side was not acknowledged after Send returned nil (acks %d -> %d): %v", before, s.Acked(), err)
	}
}

// eventually polls cond for device-side state the Sink cannot wake on; ctx is a failure bound only.
func eventually(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func checkRetry(t *testing.T, s Subject) {
	ctx := checkCtx(t, s)
	r := start(t, ctx, s, s.New(t))
	r.sink.FailAll(StorageFull())
	s.Produce(ctx, t)
	// Wait for a refused call carrying data, then let the next one through.
	var refused Attempt
	err := r.sink.Await(ctx, func(_ []tbgateway.Record, attempts []Attempt, _ int) bool {
		for _, a := range attempts {
			if a.Err != nil && hasData(a.Records) {
				refused = a
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("the connector never called Send with data after Produce: %v", err)
	}
	r.sink.FailAll(nil)
	want := content(refused.Records)
	err = r.sink.Await(ctx, func(stored []tbgateway.Record, _ []Attempt, _ int) bool {
		return containsAll(content(stored), want)
	})
	if err != nil {
		t.Errorf("after ErrStorageFull the refused records were not stored again:\nrefused: %v\nstored:  %v",
			want, content(r.sink.Records()))
	}
}

func hasData(recs []tbgateway.Record) bool {
	return slices.ContainsFunc(recs, func(r tbgateway.Record) bool { return r.Datapoints() > 0 })
}

// datum is one stored value without its timestamp.
type datum struct {
	Device, Kind, Scope, Key, Value string
}

// content flattens records into their devices, kinds, keys and values (JSON-rendered), timestamps left out.
func content(recs []tbgateway.Record) []datum {
	var out []datum
	for _, r := range recs {
		if r.Kind != tbgateway.KindData {
			out = append(out, datum{Device: r.Device, Kind: r.Kind.String(), Key: r.DeviceType})
			continue
		}
		for k, v := range r.Attributes {
			out = append(out, datum{r.Device, "data", "attribute", k, render(v)})
		}
		for _, tel := range r.Telemetry {
			for k, v := range tel.Values {
				out = append(out, datum{r.Device, "data", "telemetry", k, render(v)})
			}
		}
	}
	return out
}

func render(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return fmt.Sprintf("%T %s", v, b)
}

// containsAll reports whether have holds every datum of want (as a multiset).
func containsAll(have, want []datum) bool {
	count := map[datum]int{}
	for _, d := range have {
		count[d]++
	}
	for _, d := range want {
		if count[d] == 0 {
			return false
		}
		count[d]--
	}
	return true
}

func checkDownlink(t *testing.T, s Subject) {
	ctx := checkCtx(t, s)
	conn := s.New(t)
	_, isUpdater := conn.(tbgateway.AttributeUpdater)
	_, isRPC := conn.(tbgateway.RPCHandler)
	if !isUpdater && !isRPC {
		t.Skip("the connector implements neither AttributeUpdater nor RPCHandler")
	}
	downlink(t, ctx, s, conn, "before Run")
	if t.Failed() {
		return
	}
	r := start(t, ctx, s, conn)
	_ = r.stop(s.timeout())
	downlink(t, ctx, s, conn, "after Run returned")
}

// downlink calls every downlink method the connector has and requires an error, without a panic or a hang
// (after a hang it stops: the hung call may hold the connector).
func downlink(t *testing.T, ctx context.Context, s Subject, conn tbgateway.Connector, when string) {
	t.Helper()
	if u, ok := conn.(tbgateway.AttributeUpdater); ok {
		err := call(ctx, s.timeout(), func(ctx context.Context) error {
			return u.UpdateAttributes(ctx, s.device(), map[string]any{"contractKey": int64(1)})
		})
		if !expectError(t, "UpdateAttributes "+when, err) {
			return
		}
	}
	if h, ok := conn.(tbgateway.RPCHandler); ok {
		for _, dev := range []string{s.device(), ""} {
			err := call(ctx, s.timeout(), func(ctx context.Context) error {
				_, err := h.HandleRPC(ctx, tbgateway.RPCRequest{Device: dev, ID: 1, Method: "contractMethod", Params: json.RawMessage(`{"v":1}`)})
				return err
			})
			if !expectError(t, fmt.Sprintf("HandleRPC (device %q) %s", dev, when), err) {
				return
			}
		}
	}
}

var errPanicked = errors.New("panicked")

// call runs fn and returns its error, errPanicked (wrapped) on a panic, or errHung after bound. fn's context
// ends only after bound, so a call that merely waits for its context counts as hung.
func call(ctx context.Context, bound time.Duration, fn func(context.Context) error) error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("%w: %v", errPanicked, p)
			}
		}()
		done <- fn(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(bound):
		return errHung
	}
}

var errHung = errors.New("did not return")

// expectError reports a call that did not return an error; it returns false when the call hung.
func expectError(t *testing.T, what string, err error) bool {
	t.Helper()
	switch {
	case errors.Is(err, errPanicked):
		t.Errorf("%s: %v, want an error", what, err)
	case errors.Is(err, errHung):
		t.Errorf("%s did not return, want an error", what)
		return false
	case err == nil:
		t.Errorf("%s returned nil, want an error", what)
	}
	return true
}
