package report

import (
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// TestTxDroppedChangesNothing: decisions of a Tx that is not committed leave the filter as it was, so the same
// values are decided the same way again; a committed Tx then holds back an unchanged value.
func TestTxDroppedChangesNothing(t *testing.T) {
	f := New(&Resolver{Rules: map[Scope]Strategy{{Connector: "c"}: {Type: OnChange}}}, nil, nil)
	now := time.Now()
	for range 2 {
		tx := f.Begin()
		if _, keep := tx.Apply(now, telemetry(1.0)); !keep {
			t.Fatal("a first value was held back")
		}
		if st := f.Stats(); st.Cached != 0 || st.Filtered != 0 {
			t.Fatalf("an open Tx changed the filter: %+v", st)
		}
	}
	tx := f.Begin()
	tx.Apply(now, telemetry(1.0))
	tx.Commit()
	if _, keep := f.Apply(now, telemetry(1.0)); keep {
		t.Error("an unchanged value passed after the first was committed")
	}
	if st := f.Stats(); st.Cached != 1 || st.Filtered != 1 {
		t.Errorf("stats %+v, want one cached value held back once", st)
	}
}

// TestTxSeesItsOwnDecisions: one Tx decides two records of the same key in order, as two Applies would.
func TestTxSeesItsOwnDecisions(t *testing.T) {
	f := New(&Resolver{Rules: map[Scope]Strategy{{Connector: "c"}: {Type: OnChange}}}, nil, nil)
	now := time.Now()
	tx := f.Begin()
	var kept []bool
	for _, v := range []any{1.0, 1.0, 2.0} {
		_, keep := tx.Apply(now, telemetry(v))
		kept = append(kept, keep)
	}
	if kept[0] != true || kept[1] != false || kept[2] != true {
		t.Errorf("kept %v, want [true false true]", kept)
	}
	tx.Commit()
	if _, keep := f.Apply(now, telemetry(2.0)); keep {
		t.Error("the Tx's last value was not committed")
	}
	conn := tbgateway.Record{Kind: tbgateway.KindConnect, Device: "dev", Connector: "c"}
	if _, keep := f.Begin().Apply(now, conn); !keep {
		t.Error("a connect record was held back")
	}
}
