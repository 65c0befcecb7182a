package report

import (
	"strings"
	"testing"

	"github.com/tbgateway/tbgateway/internal/confjson"
)

func TestRead(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{`{}`, "", ""},
		{`{"reportStrategy": {"type": "ON_CHANGE"}}`, `{"type":"ON_CHANGE"}`, ""},
		{`{"reportStrategy": {"type": "SOMETIMES"}}`, "", `f.json: reportStrategy: type: unknown report strategy "SOMETIMES"`},
		{`{"reportStrategy": "ON_CHANGE"}`, "", `f.json: reportStrategy: expected a report strategy object, found "ON_CHANGE"`},
	} {
		d := confjson.New("f.json")
		root, err := d.Root([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		got := Read(root, "reportStrategy")
		if string(got) != tc.want {
			t.Errorf("%s: Read = %s, want %s", tc.in, got, tc.want)
		}
		if err := d.Err(); (err == nil) != (tc.err == "") || (err != nil && !strings.HasPrefix(err.Error(), tc.err)) {
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
		}
	}
}
