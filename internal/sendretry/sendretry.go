// Package sendretry is the connector kit's one loop for storing records while storage refuses them: every
// connector that holds its device side until the records are stored (an unacknowledged MQTT message, a Modbus
// poll that waits, a serial line not read further, a BLE notification queue) sends through it, so that a full
// storage delays readings and loses none.
package sendretry

import (
	"context"
	"errors"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/backoff"
)

// Sender stores records through a Sink, sending the same records again while storage refuses them. The zero
// Sender uses the backoff package's default policy and reports nothing. A Sender holds no state between calls;
// it is safe for concurrent use.
type Sender struct {
	// Policy spaces the attempts of one Send call while storage refuses the records; each call starts a new
	// streak at Policy.Initial.
	Policy backoff.Policy
	// Refused, when set, is called after each refused attempt of a Send call, before the wait: err is the Sink's
	// error and n counts the refusals of this call (1 for the first, so a caller logs once per episode on n == 1
	// and counts every call).
	Refused func(err error, n int)
	// FullOnly sends again only after tbgateway.ErrStorageFull: any other error is returned at once, for a caller
	// that ends Run and leaves the retry to the runtime's restart. Without it, every error but an invalid record
	// (a storage that cannot write for now, too) is a refusal.
	FullOnly bool
}

// Send calls sink.Send(ctx, recs...) until the records are stored. It returns:
//   - nil once sink.Send returned nil (also when recs is empty, without calling the sink);
//   - the Sink's error, which wraps tbgateway.ErrInvalidRecord, when storage refuses a record as invalid: nothing
//     of the call was stored and the same records would be refused again, so they are not sent again;
//   - ctx.Err() when ctx ends before the records are stored;
//   - with FullOnly, the Sink's error when it does not wrap tbgateway.ErrStorageFull.
//
// Every other error (tbgateway.ErrStorageFull; without FullOnly any error) is a refusal: Refused is called and
// the same records are sent again after the policy's next delay.
func (s Sender) Send(ctx context.Context, sink tbgateway.Sink, recs ...tbgateway.Record) error {
	if len(recs) == 0 {
		return nil
	}
	var b *backoff.Backoff
	for n := 1; ; n++ {
		err := sink.Send(ctx, recs...)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, tbgateway.ErrInvalidRecord):
			return err
		case s.FullOnly && !errors.Is(err, tbgateway.ErrStorageFull):
			return err
		}
		if s.Refused != nil {
			s.Refused(err, n)
		}
		if b == nil {
			b = backoff.New(s.Policy)
		}
		if err := b.Wait(ctx); err != nil {
			return err
		}
	}
}
