package connectortest

import (
	"context"
	"errors"
	"testing"

	tbgateway "github.com/tbgateway/tbgateway"
)

func rec(dev string, v int64) tbgateway.Record {
	return tbgateway.Record{Device: dev, Telemetry: []tbgateway.Telemetry{{Values: map[string]any{"v": v}}}}
}

func TestSinkRecordsStampsAndValidates(t *testing.T) {
	s := NewSink()
	ctx := t.Context()
	if err := s.Send(ctx, rec("a", 1), rec("a", 2)); err != nil {
		t.Fatal(err)
	}
	got := s.Records()
	if len(got) != 2 || got[0].Telemetry[0].TS <= 0 || got[1].Telemetry[0].TS <= got[0].Telemetry[0].TS {
		t.Fatalf("records %+v: want 2, stamped strictly increasing", got)
	}
	err := s.Send(ctx, rec("b", 3), tbgateway.Record{Device: " "})
	if !errors.Is(err, tbgateway.ErrInvalidRecord) {
		t.Errorf("Send with an invalid record = %v, want ErrInvalidRecord", err)
	}
	if n := len(s.Records()); n != 2 {
		t.Errorf("an invalid call stored something: %d records", n)
	}
	if a := s.Attempts(); len(a) != 2 || a[1].Err == nil || a[1].Records[0].Device != "b" {
		t.Errorf("attempts %+v", a)
	}
}

func TestSinkFailsOnCue(t *testing.T) {
	s := NewSink()
	ctx := t.Context()
	s.FailNext(StorageFull(), InvalidRecord())
	if err := s.Send(ctx, rec("a", 1)); !errors.Is(err, tbgateway.ErrStorageFull) {
		t.Errorf("first Send = %v, want ErrStorageFull", err)
	}
	if err := s.Send(ctx, rec("a", 1)); !errors.Is(err, tbgateway.ErrInvalidRecord) {
		t.Errorf("second Send = %v, want ErrInvalidRecord", err)
	}
	if err := s.Send(ctx, rec("a", 1)); err != nil {
		t.Errorf("third Send = %v, want nil", err)
	}
	s.FailAll(StorageFull())
	for range 3 {
		if err := s.Send(ctx, rec("a", 2)); !errors.Is(err, tbgateway.ErrStorageFull) {
			t.Errorf("Send under FailAll = %v", err)
		}
	}
	s.FailAll(nil)
	if err := s.Send(ctx, rec("a", 3)); err != nil || len(s.Records()) != 2 {
		t.Errorf("after FailAll(nil): %v, %d records", err, len(s.Records()))
	}
}

func TestSinkBlocksUntilReleased(t *testing.T) {
	s := NewSink()
	ctx := t.Context()
	release := s.Block()
	sent := make(chan error, 1)
	go func() { sent <- s.Send(ctx, rec("a", 1)) }()
	if err := s.WaitBlocked(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Records()); n != 0 {
		t.Fatalf("a blocked Send stored %d records", n)
	}
	release()
	release() // idempotent
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitRecords(ctx, 1); err != nil {
		t.Fatal(err)
	}

	// A blocked Send ends with its context.
	s.Block()
	cctx, cancel := context.WithCancel(ctx)
	go func() { sent <- s.Send(cctx, rec("a", 2)) }()
	if err := s.WaitBlocked(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-sent; !errors.Is(err, context.Canceled) {
		t.Errorf("blocked Send after cancel = %v, want context.Canceled", err)
	}
}

func TestSinkWaitEndsWithContext(t *testing.T) {
	s := NewSink()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.WaitRecords(ctx, 1); !errors.Is(err, ErrWait) || !errors.Is(err, context.Canceled) {
		t.Errorf("WaitRecords on a cancelled context = %v", err)
	}
}

func TestSinkRequestAttributes(t *testing.T) {
	s := NewSink()
	if _, err := s.RequestAttributes(t.Context(), "d", false, []string{"k"}); !errors.Is(err, tbgateway.ErrNotConnected) {
		t.Errorf("unknown device: %v", err)
	}
	s.SetAttributes("d", map[string]any{"k": "v", "other": 1})
	got, err := s.RequestAttributes(t.Context(), "d", false, []string{"k", "missing"})
	if err != nil || len(got) != 1 || got["k"] != "v" {
		t.Errorf("RequestAttributes = %v, %v", got, err)
	}
}
