package template

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// describeParts renders parts as L"text" and E"source" for compact comparisons.
func describeParts[E any](t Template[E]) []string {
	var out []string
	for _, p := range t.Parts {
		if p.IsExpr {
			out = append(out, fmt.Sprintf("E%q", p.Source))
		} else {
			out = append(out, fmt.Sprintf("L%q", p.Literal))
		}
	}
	return out
}

func TestParse(t *testing.T) {
	cases := []struct {
		in     string
		parts  []string
		single bool
		err    error
	}{
		{"", nil, false, nil},
		{"plain", []string{`L"plain"`}, false, nil},
		{"${a}", []string{`E"a"`}, true, nil},
		{"${a}${b}", []string{`E"a"`, `E"b"`}, false, nil},
		{"Dev ${meta.id}-${meta.tags[1]}!", []string{`L"Dev "`, `E"meta.id"`, `L"-"`, `E"meta.tags[1]"`, `L"!"`}, false, nil},
		{"${key with spaces}", []string{`E"key with spaces"`}, true, nil},
		{"${ a }", []string{`E" a "`}, true, nil},
		{"${}", []string{`E""`}, true, nil},
		{"${a}b}", []string{`E"a"`, `L"b}"`}, false, nil},
		{"${a${b}", []string{`E"a${b"`}, true, nil},
		{"$a {b} $ {c}", []string{`L"$a {b} $ {c}"`}, false, nil},
		{"cost $${x}", []string{`L"cost $"`, `E"x"`}, false, nil},
		{`${Root\.Objects\.Dev}`, []string{`E"Root\\.Objects\\.Dev"`}, true, nil},
		{"${ns=2;s=x}", []string{`E"ns=2;s=x"`}, true, nil},
		{"a ${b", nil, false, ErrUnclosed},
		{"${", nil, false, ErrUnclosed},
		{"${a} ${", nil, false, ErrUnclosed},
	}
	for _, tc := range cases {
		got, err := Names(tc.in)
		if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
			t.Errorf("Parse(%q) error = %v, want %v", tc.in, err, tc.err)
			continue
		}
		if err != nil {
			if got.Parts != nil || got.Text != tc.in {
				t.Errorf("Parse(%q) failed but returned parts %v", tc.in, got.Parts)
			}
			continue
		}
		if p := describeParts(got); !reflect.DeepEqual(p, tc.parts) {
			t.Errorf("Parse(%q) parts = %v, want %v", tc.in, p, tc.parts)
		}
		if got.Single() != tc.single {
			t.Errorf("Parse(%q).Single() = %v", tc.in, got.Single())
		}
		for _, p := range got.Exprs() {
			if p.Expr != p.Source {
				t.Errorf("Names(%q) compiled %q, want the source %q", tc.in, p.Expr, p.Source)
			}
		}
	}
}

func TestParseCompilesOnceEachExpression(t *testing.T) {
	var seen []string
	tm, err := Parse("${a.b}/${c}", func(s string) ([]string, error) {
		seen = append(seen, s)
		return strings.Split(s, "."), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seen, []string{"a.b", "c"}) || !reflect.DeepEqual(tm.Parts[0].Expr, []string{"a", "b"}) {
		t.Errorf("compiled %v, parts %v", seen, tm.Parts)
	}
	bad := errors.New("empty path")
	_, err = Parse("x ${}", func(s string) (int, error) {
		if s == "" {
			return 0, bad
		}
		return 1, nil
	})
	if !errors.Is(err, bad) || !strings.Contains(err.Error(), `"x ${}"`) {
		t.Errorf("compile error = %v, want it wrapped with the template's text", err)
	}
}

func TestEvalAndRender(t *testing.T) {
	tm, err := Names("devices/${deviceName}/${method}")
	if err != nil {
		t.Fatal(err)
	}
	vars := Vars(map[string]string{"deviceName": "Thermo A"})
	if got := tm.Render(vars); got != "devices/Thermo A/${method}" {
		t.Errorf("Render = %q, unknown names must stay as written", got)
	}
	if _, missing, ok := tm.Eval(vars); ok || missing != "method" {
		t.Errorf("Eval found %v, missing %q; want method missing", ok, missing)
	}
	all := Vars(map[string]string{"deviceName": "D", "method": "set"})
	if text, _, ok := tm.Eval(all); !ok || text != "devices/D/set" {
		t.Errorf("Eval = %q, %v", text, ok)
	}
	lit, _ := Names("no expressions")
	if lit.HasExpr() || lit.Render(all) != "no expressions" {
		t.Errorf("literal template: HasExpr %v, Render %q", lit.HasExpr(), lit.Render(all))
	}
}
