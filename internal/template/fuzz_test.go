package template

import (
	"strings"
	"testing"
)

// FuzzParse checks that parsing never panics and that a parsed template renders back to its own text when every
// expression renders as it was written.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "${a}", "x${a}y${b}z", "${a${b}}", "$${", "}${", "${}", "${ns=2;s={x}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := Names(s)
		if err != nil {
			if !strings.Contains(s, "${") {
				t.Fatalf("Parse(%q) failed without a ${: %v", s, err)
			}
			return
		}
		back := tm.Render(func(e string) (string, bool) { return "${" + e + "}", true })
		if back != s {
			t.Fatalf("Parse(%q) renders back as %q", s, back)
		}
		if unknown := tm.Render(func(string) (string, bool) { return "", false }); unknown != s {
			t.Fatalf("Render with no names of %q gives %q", s, unknown)
		}
		for i := 1; i < len(tm.Parts); i++ {
			if !tm.Parts[i].IsExpr && !tm.Parts[i-1].IsExpr {
				t.Fatalf("Parse(%q): adjacent literals", s)
			}
		}
	})
}
