package blackbox

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"strconv"
)

// Same compares a corpus value (text as ThingsBoard's REST API shows it, or typed JSON as an RPC file holds it)
// with a value the emulator holds or an RPC returned: two integers exactly, an integer and a float as float64
// exactly, two floats within 1e-9 relative, anything else by its JSON value.
func Same(want, got any) bool {
	w, g := normalize(want), normalize(got)
	wn, wok := w.(json.Number)
	gn, gok := g.(json.Number)
	if wok && gok {
		wi, wInt := new(big.Int).SetString(string(wn), 10)
		gi, gInt := new(big.Int).SetString(string(gn), 10)
		if wInt && gInt {
			return wi.Cmp(gi) == 0
		}
		wf, err1 := wn.Float64()
		gf, err2 := gn.Float64()
		if err1 != nil || err2 != nil {
			return false
		}
		if wInt || gInt { // an integer against a float: no tolerance, or 64-bit integers 1e-9 apart pass
			return wf == gf
		}
		return wf == gf || math.Abs(wf-gf) <= 1e-9*math.Max(math.Abs(wf), math.Abs(gf))
	}
	return fmt.Sprint(w) == fmt.Sprint(g)
}

// normalize turns a value into what a json.Decoder with UseNumber decodes its JSON into; text that is JSON is
// parsed, Go numbers become json.Number.
func normalize(v any) any {
	var text []byte
	switch x := v.(type) {
	case string:
		text = []byte(x)
	case json.Number:
		return x
	case json.RawMessage:
		text = x
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
	case int:
		return json.Number(strconv.Itoa(x))
	case uint64:
		return json.Number(strconv.FormatUint(x, 10))
	case float64:
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64))
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
	if decodeNumbers(text, &out) != nil {
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

// SameUplinked says whether got is the corpus value want as an uplink shows it: Same, or a float rounded to 6
// decimal places (an item's default "round"; the corpus' attribute-update values are written unrounded).
func SameUplinked(want, got any) bool {
	if Same(want, got) {
		return true
	}
	n, ok := normalize(want).(json.Number)
	if !ok {
		return false
	}
	if _, isInt := new(big.Int).SetString(string(n), 10); isInt {
		return false
	}
	f, err := n.Float64()
	return err == nil && Same(Round6(f), got)
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

// Show renders a value for a failure message: JSON values (raw JSON, Go values that marshal themselves) as
// their text, anything else as fmt's %v.
func Show(v any) string {
	switch x := v.(type) {
	case json.RawMessage:
		return string(x)
	case interface{ MarshalJSON() ([]byte, error) }:
		if b, err := x.MarshalJSON(); err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}
