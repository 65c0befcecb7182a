package template

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnclosed is wrapped by Parse's error for a "${" with no "}" after it.
var ErrUnclosed = errors.New("unclosed ${")

// Part is one piece of a template: literal text, or an expression (the text between "${" and "}") compiled by
// the caller into E.
type Part[E any] struct {
	// Literal is the text of a literal part; empty for an expression.
	Literal string
	// Source is an expression's text as written between "${" and "}" (spaces kept); empty for a literal.
	Source string
	// Expr is the compiled expression; the zero E for a literal.
	Expr E
	// IsExpr tells an expression from a literal.
	IsExpr bool
}

// Template is a text with "${...}" expressions, parsed once (at configuration load) into parts.
type Template[E any] struct {
	// Text is the template as written.
	Text string
	// Parts are the literals and expressions in order; adjacent literals never occur and empty literals are
	// left out, so "${a}${b}" is two expressions and "" has no parts.
	Parts []Part[E]
}

// Parse splits text into literals and expressions and compiles every expression with compile (called once per
// "${...}", in order, with the text between "${" and the first "}" after it, spaces kept). The rules, as the
// Python gateway's templates have them:
//   - an expression ends at the first "}" ("${a}b}" is the expression a, then the literal "b}");
//   - "$" not followed by "{", and "}" outside an expression, are literal text;
//   - "${" inside an expression is part of it ("${a${b}" compiles "a${b"); the caller's compile decides;
//   - a "${" with no "}" after it is an error wrapping ErrUnclosed; there is no escape for a literal "${".
//
// compile's error is returned wrapped with the template's text. A nil compile keeps the source text as E when E
// is string and otherwise leaves E zero.
func Parse[E any](text string, compile func(expr string) (E, error)) (Template[E], error) {
	t := Template[E]{Text: text}
	rest := text
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			t.addLiteral(rest)
			return t, nil
		}
		t.addLiteral(rest[:i])
		j := strings.IndexByte(rest[i+2:], '}')
		if j < 0 {
			return Template[E]{Text: text}, fmt.Errorf("%w in %q", ErrUnclosed, text)
		}
		src := rest[i+2 : i+2+j]
		var e E
		if compile != nil {
			var err error
			if e, err = compile(src); err != nil {
				return Template[E]{Text: text}, fmt.Errorf("%q: %w", text, err)
			}
		} else if s, ok := any(&e).(*string); ok {
			*s = src
		}
		t.Parts = append(t.Parts, Part[E]{Source: src, Expr: e, IsExpr: true})
		rest = rest[i+2+j+1:]
	}
}

// Names parses text with every expression kept as its source text: for templates whose expressions are plain
// names (${deviceName}, ${methodName}, ${attributeKey}).
func Names(text string) (Template[string], error) { return Parse[string](text, nil) }

func (t *Template[E]) addLiteral(s string) {
	if s != "" {
		t.Parts = append(t.Parts, Part[E]{Literal: s})
	}
}

// Single reports whether the template is exactly one expression with no text around it, so its value can keep
// its own type (a number stays a number) instead of becoming text.
func (t Template[E]) Single() bool { return len(t.Parts) == 1 && t.Parts[0].IsExpr }

// HasExpr reports whether the template holds any expression; without one its Text is its value.
func (t Template[E]) HasExpr() bool { return len(t.Exprs()) > 0 }

// Exprs returns the expressions' parts in order.
func (t Template[E]) Exprs() []Part[E] {
	var out []Part[E]
	for _, p := range t.Parts {
		if p.IsExpr {
			out = append(out, p)
		}
	}
	return out
}

// Eval joins the literals with each expression's text from value. When value reports false for an expression
// Eval stops and returns ok false with that expression's source in missing (the Python gateway skips a key
// whose expression finds nothing).
func (t Template[E]) Eval(value func(e E) (string, bool)) (text, missing string, ok bool) {
	var b strings.Builder
	for _, p := range t.Parts {
		if !p.IsExpr {
			b.WriteString(p.Literal)
			continue
		}
		s, found := value(p.Expr)
		if !found {
			return "", p.Source, false
		}
		b.WriteString(s)
	}
	return b.String(), "", true
}

// Render joins the literals with each expression's text from value; an expression value does not know is kept
// as written ("${name}"), as the Python gateway leaves unknown names in topics and payloads.
func (t Template[E]) Render(value func(e E) (string, bool)) string {
	var b strings.Builder
	for _, p := range t.Parts {
		if !p.IsExpr {
			b.WriteString(p.Literal)
			continue
		}
		if s, found := value(p.Expr); found {
			b.WriteString(s)
		} else {
			b.WriteString("${" + p.Source + "}")
		}
	}
	return b.String()
}

// Vars returns a value function for Render and Eval over templates from Names: name → vars[name].
func Vars(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		s, ok := vars[name]
		return s, ok
	}
}
