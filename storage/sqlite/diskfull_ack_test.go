package sqlite

import (
	"context"
	"testing"
)

// TestDiskFullOneAckOfEverything acknowledges the whole backlog of a store that filled its disk in one Ack, as the
// uplink does when many PUBACKs arrive together: the deletes of one transaction need more WAL space than a full
// disk has, so the store must split the acknowledgement rather than fail it (a failed Ack leaves delivered
// records in the store until the next reconnect). The Ack succeeds, the store ends empty and accepts Puts again.
func TestDiskFullOneAckOfEverything(t *testing.T) {
	dir := mountTmpfs(t)
	s, err := Open(context.Background(), Options{Dir: dir}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stored, err := fillUntilFull(t, s)
	assertDiskFullErr(t, s, err)
	es := drain(t, s, stored)
	seqs := make([]uint64, len(es))
	for i, e := range es {
		seqs[i] = e.Seq
	}
	if err := s.Ack(seqs...); err != nil {
		t.Fatalf("one Ack of all %d records on a full disk: %v", len(seqs), err)
	}
	if st := s.Stats(); st.Count != 0 || st.Dropped != 0 {
		t.Fatalf("Stats = %+v after every record was acknowledged, want Count 0, nothing dropped", st)
	}
	if err := s.Put(context.Background(), recs("after", 0, 50)); err != nil {
		t.Fatalf("Put after the backlog was acknowledged: %v", err)
	}
	if err := s.Close(); err != nil { // before the unmount
		t.Fatal(err)
	}
}
