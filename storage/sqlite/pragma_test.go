package sqlite

import (
	"context"
	"strings"
	"testing"
)

// TestDurabilityPragmas reads back, on the store's own writing connection (synchronous is a per-connection
// setting), what makes a returned Put durable: the write-ahead log, and synchronous FULL (2) by default, NORMAL (1)
// only when asked for. A Put acknowledged before an fsync would be lost to a power cut, which no kill test sees.
func TestDurabilityPragmas(t *testing.T) {
	for _, c := range []struct {
		synchronous string
		want        int
	}{{"", 2}, {"full", 2}, {"NORMAL", 1}} {
		s := openStore(t, Options{Dir: t.TempDir(), Synchronous: c.synchronous})
		ctx := context.Background()
		// A Put first, so the pragmas are read from the connection as it has been writing.
		if err := s.Put(ctx, recs("d", 0, 1)); err != nil {
			t.Fatal(err)
		}
		var sync int
		if err := s.wconn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if sync != c.want {
			t.Errorf("Synchronous %q: PRAGMA synchronous = %d, want %d", c.synchronous, sync, c.want)
		}
		var mode string
		if err := s.wconn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if !strings.EqualFold(mode, "wal") {
			t.Errorf("Synchronous %q: PRAGMA journal_mode = %q, want wal", c.synchronous, mode)
		}
	}
}
