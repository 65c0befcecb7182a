package connectortest

import (
	"errors"
	"testing"
)

// TestNeedPeerFunc: a present peer lets the test run on; a missing one skips it outside CI. (Under CI=true it
// fails the test, which cannot be watched from the same test binary without failing it.)
func TestNeedPeerFunc(t *testing.T) {
	t.Setenv("CI", "")
	for _, tc := range []struct {
		name        string
		err         error
		wantSkipped bool
	}{{"present", nil, false}, {"missing", errors.New("no module named pymodbus"), true}} {
		var sub *testing.T
		ran := false
		t.Run(tc.name, func(t *testing.T) {
			sub = t
			NeedPeerFunc(t, "python3-pymodbus", func() error { return tc.err })
			ran = true
		})
		if sub.Skipped() != tc.wantSkipped || ran == tc.wantSkipped {
			t.Errorf("%s: skipped %v, ran on %v; want skipped %v", tc.name, sub.Skipped(), ran, tc.wantSkipped)
		}
	}
}
