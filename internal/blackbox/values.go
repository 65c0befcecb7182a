package blackbox

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
)

// Same compares a corpus value (text as ThingsBoard's REST API shows it, or typed JSON as an RPC file holds it)
// with a value the emulator holds or an RPC returned: numbers within 1e-9 relative, anything else by its JSON
// value.
func Same(want, got any) bool {
	w, g := normalize(want), normalize(got)
	wf, wok := w.(float64)
	gf, gok := g.(float64)
	if wok && gok {
		return wf == gf || math.Abs(wf-gf) <= 1e-9*math.Max(math.Abs(wf), math.Abs(gf))
	}
	return fmt.Sprint(w) == fmt.Sprint(g)
}

// normalize turns a value into what encoding/json decodes its JSON into; text that is JSON is parsed.
func normalize(v any) any {
	var text []byte
	switch x := v.(type) {
	case string:
		text = []byte(x)
	case json.Number:
		text = []byte(x)
	case json.RawMessage:
		text = x
	case int64:
		return float64(x)
	case interface{ MarshalJSON() ([]byte, error) }:
		b, err := x.MarshalJSON()
		if err != nil {
			return v
		}
		text = b
	default:
		return v
	}
	var out any
	if json.Unmarshal(text, &out) != nil {
		return v
	}
	return out
}

// Typed turns a corpus value written as text ("-22137") into the JSON value it spells; text that is not JSON,
// or is a JSON string, stays as it is.
func Typed(v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	var x any
	if json.Unmarshal([]byte(s), &x) == nil {
		if _, isStr := x.(string); !isStr {
			return x
		}
	}
	return s
}

// Round6 rounds a float to 6 decimal places, as the corpus' RPC files show written floats; anything else is
// returned as it is.
func Round6(v any) any {
	f, ok := v.(float64)
	if !ok {
		return v
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 6, 64), 64)
	return r
}

// ReadValues reads a corpus values file (a flat key -> value object); numbers stay json.Number.
func ReadValues(file string) (map[string]any, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := decodeNumbers(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return m, nil
}
