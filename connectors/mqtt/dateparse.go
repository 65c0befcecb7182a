package mqtt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The tsField date parser: a port of the default parser of python-dateutil 2.8 (dateutil.parser.parse without
// fuzzy matching or tzinfos), which the Python gateway applies to a tsField's text with the mapping's dayfirst
// and yearfirst. It reads the same layouts the same way: ISO 8601 and its compact forms, numbers separated by
// "-", "/", "." or spaces (ambiguous orders settled by dayfirst and yearfirst exactly as dateutil does), month
// and weekday names in English, 12-hour clocks (AM/PM), "10h36m", and time zones given as Z, UTC, GMT, offsets
// (+02, +0200, +02:00, and dateutil's POSIX reading of "UTC+3" as three hours west of UTC).
//
// Where we differ, on purpose: a time zone name of three to five capitals other than UTC and GMT (EST, CEST,
// BRST...) is an error, where dateutil ignores it and reads the time as local time, which silently shifts
// readings by hours (one or two capitals, as in "A.M.", are ignored as dateutil does); and a date
// without a time zone is read in the zone the caller gives (the gateway passes its own local zone, time.Local,
// which is what Python's naive datetime.timestamp() uses).

// dateOpts are a tsField's parsing options.
type dateOpts struct {
	dayFirst, yearFirst bool
	// loc is the zone of a date without one.
	loc *time.Location
	// now gives the default date of a time without one (today, at midnight in loc) and the century of two-digit
	// years (within 50 years of now, as dateutil does).
	now time.Time
}

var errDate = errors.New("not a date dateutil reads")

// parseDate parses s as dateutil.parser.parse(s, dayfirst, yearfirst) does and returns the instant.
func parseDate(s string, o dateOpts) (time.Time, error) {
	if o.loc == nil {
		o.loc = time.Local
	}
	r, err := parseDateTokens(splitDate(s), o)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: %w", s, err)
	}
	t, err := r.build(o)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: %w", s, err)
	}
	return t, nil
}

// splitDate is dateutil's _timelex: runs of letters, runs of digits (with a decimal point or comma inside), and
// single other characters; a run of spaces is one " ".
func splitDate(s string) []string {
	var out []string
	rs := []rune(strings.ReplaceAll(s, "\x00", ""))
	i := 0
	for i < len(rs) {
		c := rs[i]
		i++
		var tok []rune
		state := byte(0)
		switch {
		case unicode.IsLetter(c):
			state, tok = 'a', []rune{c}
		case unicode.IsDigit(c):
			state, tok = '0', []rune{c}
		case unicode.IsSpace(c):
			out = append(out, " ")
			continue
		default:
			out = append(out, string(c))
			continue
		}
		seenLetters := false
	run:
		for i < len(rs) {
			n := rs[i]
			switch state {
			case 'a':
				seenLetters = true
				switch {
				case unicode.IsLetter(n):
					tok = append(tok, n)
				case n == '.':
					tok, state = append(tok, n), 'A' // "a."
				default:
					break run
				}
			case '0':
				switch {
				case unicode.IsDigit(n):
					tok = append(tok, n)
				case n == '.' || (n == ',' && len(tok) >= 2):
					tok, state = append(tok, n), 'N' // "0."
				default:
					break run
				}
			case 'A':
				seenLetters = true
				switch {
				case n == '.' || unicode.IsLetter(n):
					tok = append(tok, n)
				case unicode.IsDigit(n) && tok[len(tok)-1] == '.':
					tok, state = append(tok, n), 'N'
				default:
					break run
				}
			case 'N':
				switch {
				case n == '.' || unicode.IsDigit(n):
					tok = append(tok, n)
				case unicode.IsLetter(n) && tok[len(tok)-1] == '.':
					tok, state = append(tok, n), 'A'
				default:
					break run
				}
			}
			i++
		}
		t := string(tok)
		if (state == 'A' || state == 'N') && (seenLetters || strings.Count(t, ".") > 1 || strings.ContainsAny(t[len(t)-1:], ".,")) {
			// Split at every "." and ",", keeping them as tokens (Python's re.split with a group).
			start := 0
			first := true
			for j := 0; j < len(t); j++ {
				if t[j] == '.' || t[j] == ',' {
					if part := t[start:j]; part != "" || first {
						out = append(out, part)
					}
					out = append(out, t[j:j+1])
					start, first = j+1, false
				}
			}
			if start < len(t) {
				out = append(out, t[start:])
			}
			continue
		}
		if state == 'N' && !strings.Contains(t, ".") {
			t = strings.ReplaceAll(t, ",", ".")
		}
		out = append(out, t)
	}
	return out
}

// The parser's vocabulary (dateutil's parserinfo defaults).
var (
	dateJump = map[string]bool{" ": true, ".": true, ",": true, ";": true, "-": true, "/": true, "'": true,
		"at": true, "on": true, "and": true, "ad": true, "m": true, "t": true, "of": true,
		"st": true, "nd": true, "rd": true, "th": true}
	dateWeekdays = map[string]int{"mon": 0, "monday": 0, "tue": 1, "tuesday": 1, "wed": 2, "wednesday": 2,
		"thu": 3, "thursday": 3, "fri": 4, "friday": 4, "sat": 5, "saturday": 5, "sun": 6, "sunday": 6}
	dateMonths = map[string]int{"jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3,
		"apr": 4, "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8,
		"sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11,
		"dec": 12, "december": 12}
	dateHMS  = map[string]int{"h": 0, "hour": 0, "hours": 0, "m": 1, "minute": 1, "minutes": 1, "s": 2, "second": 2, "seconds": 2}
	dateAMPM = map[string]int{"am": 0, "a": 0, "pm": 1, "p": 1}
)

func lookup(m map[string]int, s string) (int, bool) {
	v, ok := m[strings.ToLower(s)]
	return v, ok
}

func isUTCName(s string) bool {
	switch strings.ToLower(s) {
	case "utc", "gmt", "z":
		return true
	}
	return false
}

// opt is an optional integer of the result.
type opt struct {
	v   int
	set bool
}

func some(v int) opt { return opt{v, true} }

// dateResult is what the tokens said (dateutil's _result).
type dateResult struct {
	year, month, day, weekday, hour, minute, second, micro opt
	ampm                                                   opt
	tzname                                                 string
	tzoffset                                               opt // seconds east of UTC
	centurySpecified                                       bool
}

// ymdList collects the date numbers and settles their order (dateutil's _ymd).
type ymdList struct {
	vals             []int
	century          bool
	yIdx, mIdx, dIdx int // -1 when unknown
}

func newYMD() *ymdList { return &ymdList{yIdx: -1, mIdx: -1, dIdx: -1} }

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func (y *ymdList) couldBeDay(v int) bool {
	switch {
	case y.dIdx >= 0:
		return false
	case y.mIdx < 0:
		return 1 <= v && v <= 31
	case y.yIdx < 0:
		return 1 <= v && v <= daysIn(2000, y.vals[y.mIdx])
	}
	return 1 <= v && v <= daysIn(y.vals[y.yIdx], y.vals[y.mIdx])
}

// appendText appends a number as written: more than two digits is a year.
func (y *ymdList) appendText(s string, label byte) error {
	v, err := strconv.Atoi(s)
	if err != nil {
		return errDate
	}
	if isDigits(s) && len(s) > 2 {
		y.century = true
		if label != 0 && label != 'Y' {
			return errDate
		}
		label = 'Y'
	}
	return y.add(v, label)
}

// appendInt appends a number; above 100 it is a year.
func (y *ymdList) appendInt(v int, label byte) error {
	if v > 100 {
		y.century = true
		if label != 0 && label != 'Y' {
			return errDate
		}
		label = 'Y'
	}
	return y.add(v, label)
}

func (y *ymdList) add(v int, label byte) error {
	y.vals = append(y.vals, v)
	idx := len(y.vals) - 1
	switch label {
	case 'M':
		if y.mIdx >= 0 {
			return errors.New("month is already set")
		}
		y.mIdx = idx
	case 'D':
		if y.dIdx >= 0 {
			return errors.New("day is already set")
		}
		y.dIdx = idx
	case 'Y':
		if y.yIdx >= 0 {
			return errors.New("year is already set")
		}
		y.yIdx = idx
	}
	return nil
}

// resolve is dateutil's resolve_ymd.
func (y *ymdList) resolve(yearFirst, dayFirst bool) (year, month, day opt, err error) {
	n := len(y.vals)
	strids := map[byte]int{}
	if y.yIdx >= 0 {
		strids['y'] = y.yIdx
	}
	if y.mIdx >= 0 {
		strids['m'] = y.mIdx
	}
	if y.dIdx >= 0 {
		strids['d'] = y.dIdx
	}
	if (n == len(strids) && n > 0) || (n == 3 && len(strids) == 2) {
		if n == 3 && len(strids) == 2 {
			used := map[int]bool{}
			for _, i := range strids {
				used[i] = true
			}
			for _, k := range []byte{'y', 'm', 'd'} {
				if _, ok := strids[k]; !ok {
					for i := range 3 {
						if !used[i] {
							strids[k] = i
						}
					}
				}
			}
		}
		get := func(k byte) opt {
			if i, ok := strids[k]; ok {
				return some(y.vals[i])
			}
			return opt{}
		}
		return get('y'), get('m'), get('d'), nil
	}
	v := y.vals
	m := y.mIdx
	switch {
	case n > 3:
		return year, month, day, errors.New("more than three date numbers")
	case n == 1 || (m >= 0 && n == 2):
		var other int
		if m >= 0 {
			month = some(v[m])
			if m == 0 {
				other = v[len(v)-1] // Python's self[-1]
			} else {
				other = v[m-1]
			}
		} else {
			other = v[0]
		}
		if n > 1 || m < 0 {
			if other > 31 {
				year = some(other)
			} else {
				day = some(other)
			}
		}
	case n == 2:
		switch {
		case v[0] > 31:
			year, month = some(v[0]), some(v[1])
		case v[1] > 31:
			month, year = some(v[0]), some(v[1])
		case dayFirst && v[1] <= 12:
			day, month = some(v[0]), some(v[1])
		default:
			month, day = some(v[0]), some(v[1])
		}
	case n == 3:
		a, b, c := some(v[0]), some(v[1]), some(v[2])
		switch m {
		case 0:
			if v[1] > 31 {
				month, year, day = a, b, c
			} else {
				month, day, year = a, b, c
			}
		case 1:
			if v[0] > 31 || (yearFirst && v[2] <= 31) {
				year, month, day = a, b, c
			} else {
				day, month, year = a, b, c
			}
		case 2:
			if v[1] > 31 {
				day, year, month = a, b, c
			} else {
				year, day, month = a, b, c
			}
		default:
			switch {
			case v[0] > 31 || y.yIdx == 0 || (yearFirst && v[1] <= 12 && v[2] <= 31):
				if dayFirst && v[2] <= 12 {
					year, day, month = a, b, c
				} else {
					year, month, day = a, b, c
				}
			case v[0] > 12 || (dayFirst && v[1] <= 12):
				day, month, year = a, b, c
			default:
				month, day, year = a, b, c
			}
		}
	}
	return year, month, day, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// decimal is a numeric token as an exact fraction-free pair: integer part and the digits after the point.
type decimal struct {
	whole int
	frac  string
}

func parseDecimal(s string) (decimal, bool) {
	w, f, _ := strings.Cut(s, ".")
	if w == "" {
		w = "0"
	}
	if !isASCIIDigits(w) || (f != "" && !isASCIIDigits(f)) || strings.Count(s, ".") > 1 {
		return decimal{}, false
	}
	v, err := strconv.Atoi(w)
	if err != nil {
		return decimal{}, false
	}
	return decimal{v, strings.TrimRight(f, "0")}, true
}

func isASCIIDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// fracTimes returns int(frac × k) for a fractional part given as digits.
func fracTimes(frac string, k int) int {
	if frac == "" {
		return 0
	}
	if len(frac) > 12 {
		frac = frac[:12]
	}
	num, _ := strconv.ParseInt(frac, 10, 64)
	den := int64(1)
	for range len(frac) {
		den *= 10
	}
	return int(num * int64(k) / den)
}

// parseMS is dateutil's _parsems: "SS[.ffffff]" as seconds and microseconds.
func parseMS(s string) (opt, opt, error) {
	w, f, hasDot := strings.Cut(s, ".")
	sec, err := strconv.Atoi(w)
	if err != nil {
		return opt{}, opt{}, errDate
	}
	if !hasDot {
		return some(sec), some(0), nil
	}
	f = (f + "000000")[:6]
	us, err := strconv.Atoi(f)
	if err != nil {
		return opt{}, opt{}, errDate
	}
	return some(sec), some(us), nil
}

// isNumber reports whether Python's float() accepts the token (digits with at most one point here: the lexer
// produces no signs or exponents inside a number token).
func isNumber(s string) bool {
	_, ok := parseDecimal(s)
	return ok && s != "."
}

func parseDateTokens(l []string, o dateOpts) (*dateResult, error) {
	res := &dateResult{}
	ymd := newYMD()
	n := len(l)
	tok := func(i int) string {
		if i < n {
			return l[i]
		}
		return ""
	}
	for i := 0; i < n; i++ {
		t := l[i]
		if isNumber(t) {
			var err error
			if i, err = parseNumeric(l, i, ymd, res); err != nil {
				return nil, err
			}
			continue
		}
		if wd, ok := lookup(dateWeekdays, t); ok {
			res.weekday = some(wd)
			continue
		}
		if mo, ok := lookup(dateMonths, t); ok {
			if err := ymd.add(mo, 'M'); err != nil {
				return nil, err
			}
			if i+1 < n {
				if sep := l[i+1]; sep == "-" || sep == "/" {
					if i+2 >= n {
						return nil, errDate
					}
					if err := ymd.appendText(l[i+2], 0); err != nil {
						return nil, err
					}
					if i+3 < n && l[i+3] == sep {
						if i+4 >= n {
							return nil, errDate
						}
						if err := ymd.appendText(l[i+4], 0); err != nil {
							return nil, err
						}
						i += 2
					}
					i += 2
				} else if i+4 < n && l[i+1] == " " && l[i+3] == " " && strings.EqualFold(l[i+2], "of") {
					if isDigits(l[i+4]) {
						v, _ := strconv.Atoi(l[i+4])
						y := convertYear(v, false, o.now)
						if err := ymd.appendText(strconv.Itoa(y), 'Y'); err != nil {
							return nil, err
						}
					}
					i += 4
				}
			}
			continue
		}
		if ap, ok := lookup(dateAMPM, t); ok {
			if !res.hour.set {
				return nil, errors.New("no hour given with AM or PM")
			}
			if res.hour.v < 0 || res.hour.v > 12 {
				return nil, errors.New("hour is not on a 12-hour clock")
			}
			res.hour = some(adjustAMPM(res.hour.v, ap))
			res.ampm = some(ap)
			continue
		}
		if couldBeTZName(res, t) {
			res.tzname = t
			res.tzoffset = opt{}
			if isUTCName(t) {
				res.tzoffset = some(0)
			}
			if i+1 < n && (l[i+1] == "+" || l[i+1] == "-") {
				// "UTC+3" is POSIX: three hours west of UTC.
				if l[i+1] == "+" {
					l[i+1] = "-"
				} else {
					l[i+1] = "+"
				}
				res.tzoffset = opt{}
				if isUTCName(res.tzname) {
					res.tzname = ""
				}
			}
			continue
		}
		if res.hour.set && (t == "+" || t == "-") {
			sign := 1
			if t == "-" {
				sign = -1
			}
			next := tok(i + 1)
			var h, m int
			var err error
			switch {
			case len(next) == 4:
				h, err = strconv.Atoi(next[:2])
				if err == nil {
					m, err = strconv.Atoi(next[2:])
				}
			case i+2 < n && l[i+2] == ":":
				h, err = strconv.Atoi(next)
				if err == nil {
					m, err = strconv.Atoi(tok(i + 3))
				}
				i += 2
			case len(next) <= 2 && next != "":
				h, err = strconv.Atoi(next)
			default:
				err = errDate
			}
			if err != nil {
				return nil, errDate
			}
			res.tzoffset = some(sign * (h*3600 + m*60))
			if i+5 < n && dateJump[strings.ToLower(l[i+2])] && l[i+3] == "(" && l[i+5] == ")" &&
				len(l[i+4]) >= 3 && couldBeTZName(&dateResult{hour: res.hour, tzname: res.tzname}, l[i+4]) {
				res.tzname = l[i+4]
				i += 4
			}
			i++
			continue
		}
		if !dateJump[strings.ToLower(t)] {
			return nil, fmt.Errorf("%w (%q)", errDate, t)
		}
	}
	var err error
	if res.year, res.month, res.day, err = ymd.resolve(o.yearFirst, o.dayFirst); err != nil {
		return nil, err
	}
	if !res.any() {
		return nil, errors.New("no date in the text")
	}
	res.centurySpecified = ymd.century
	if res.year.set {
		res.year.v = convertYear(res.year.v, res.centurySpecified, o.now)
	}
	// dateutil's validate.
	if (res.tzoffset.set && res.tzoffset.v == 0 && res.tzname == "") || res.tzname == "Z" || res.tzname == "z" {
		res.tzname, res.tzoffset = "UTC", some(0)
	} else if res.tzoffset.set && res.tzoffset.v != 0 && res.tzname != "" && isUTCName(res.tzname) {
		res.tzoffset = some(0)
	}
	return res, nil
}

// any reports whether the text gave anything at all (dateutil's "String does not contain a date").
func (r *dateResult) any() bool {
	for _, o := range []opt{r.year, r.month, r.day, r.weekday, r.hour, r.minute, r.second, r.micro, r.ampm, r.tzoffset} {
		if o.set {
			return true
		}
	}
	return r.tzname != ""
}

func couldBeTZName(res *dateResult, t string) bool {
	if !res.hour.set || res.tzname != "" || res.tzoffset.set || len([]rune(t)) > 5 {
		return false
	}
	if t == "UTC" || t == "GMT" || t == "Z" || t == "z" {
		return true
	}
	for _, r := range t {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

func adjustAMPM(hour, ampm int) int {
	if hour < 12 && ampm == 1 {
		return hour + 12
	}
	if hour == 12 && ampm == 0 {
		return 0
	}
	return hour
}

// convertYear is dateutil's convertyear: a two-digit year is the one within 50 years of now.
func convertYear(y int, centurySpecified bool, now time.Time) int {
	if y < 100 && !centurySpecified {
		cur := now.Year()
		y += cur / 100 * 100
		if y >= cur+50 {
			y -= 100
		} else if y < cur-50 {
			y += 100
		}
	}
	return y
}

// parseNumeric is dateutil's _parse_numeric_token; it returns the index of the last token it used.
func parseNumeric(l []string, i int, ymd *ymdList, res *dateResult) (int, error) {
	s := l[i]
	val, ok := parseDecimal(s)
	if !ok {
		return i, errDate
	}
	n := len(l)
	tok := func(j int) string {
		if j < n {
			return l[j]
		}
		return ""
	}
	atoi := func(x string) (int, error) {
		v, err := strconv.Atoi(x)
		if err != nil {
			return 0, errDate
		}
		return v, nil
	}
	ln := len(s)
	_, nextIsHMS := lookup(dateHMS, tok(i+1))
	switch {
	case len(ymd.vals) == 3 && (ln == 2 || ln == 4) && !res.hour.set && (i+1 >= n || (l[i+1] != ":" && !nextIsHMS)):
		h, err := atoi(s[:2])
		if err != nil {
			return i, err
		}
		res.hour = some(h)
		if ln == 4 {
			m, err := atoi(s[2:])
			if err != nil {
				return i, err
			}
			res.minute = some(m)
		}
	case ln == 6 || (ln > 6 && strings.Index(s, ".") == 6):
		if len(ymd.vals) == 0 && !strings.Contains(s, ".") {
			for _, part := range []string{s[:2], s[2:4], s[4:]} {
				if err := ymd.appendText(part, 0); err != nil {
					return i, err
				}
			}
		} else {
			h, err1 := atoi(s[:2])
			m, err2 := atoi(s[2:4])
			sec, us, err3 := parseMS(s[4:])
			if err := errors.Join(err1, err2, err3); err != nil {
				return i, errDate
			}
			res.hour, res.minute, res.second, res.micro = some(h), some(m), sec, us
		}
	case ln == 8 || ln == 12 || ln == 14:
		if err := ymd.appendText(s[:4], 'Y'); err != nil {
			return i, err
		}
		if err := ymd.appendText(s[4:6], 0); err != nil {
			return i, err
		}
		if err := ymd.appendText(s[6:8], 0); err != nil {
			return i, err
		}
		if ln > 8 {
			h, err1 := atoi(s[8:10])
			m, err2 := atoi(s[10:12])
			if err := errors.Join(err1, err2); err != nil {
				return i, errDate
			}
			res.hour, res.minute = some(h), some(m)
			if ln > 12 {
				sec, err := atoi(s[12:])
				if err != nil {
					return i, err
				}
				res.second = some(sec)
			}
		}
	case findHMS(i, l) >= 0:
		hi := findHMS(i, l)
		var hms int
		if hi > i {
			hms, _ = lookup(dateHMS, l[hi])
			i = hi
		} else {
			hms, _ = lookup(dateHMS, l[hi])
			hms++
		}
		switch hms {
		case 0:
			res.hour = some(val.whole)
			if val.frac != "" {
				res.minute = some(fracTimes(val.frac, 60))
			}
		case 1:
			res.minute = some(val.whole)
			if val.frac != "" {
				res.second = some(fracTimes(val.frac, 60))
			}
		case 2:
			sec, us, err := parseMS(s)
			if err != nil {
				return i, err
			}
			res.second, res.micro = sec, us
		}
	case i+2 < n && l[i+1] == ":":
		res.hour = some(val.whole)
		mv, ok := parseDecimal(l[i+2])
		if !ok {
			return i, errDate
		}
		res.minute = some(mv.whole)
		if mv.frac != "" {
			res.second = some(fracTimes(mv.frac, 60))
		}
		if i+4 < n && l[i+3] == ":" {
			sec, us, err := parseMS(l[i+4])
			if err != nil {
				return i, err
			}
			res.second, res.micro = sec, us
			i += 2
		}
		i += 2
	case i+1 < n && (l[i+1] == "-" || l[i+1] == "/" || l[i+1] == "."):
		sep := l[i+1]
		if err := ymd.appendText(s, 0); err != nil {
			return i, err
		}
		if i+2 < n && !dateJump[strings.ToLower(l[i+2])] {
			if isDigits(l[i+2]) {
				if err := ymd.appendText(l[i+2], 0); err != nil {
					return i, err
				}
			} else if mo, ok := lookup(dateMonths, l[i+2]); ok {
				if err := ymd.add(mo, 'M'); err != nil {
					return i, err
				}
			} else {
				return i, errDate
			}
			if i+3 < n && l[i+3] == sep {
				if i+4 >= n {
					return i, errDate
				}
				if mo, ok := lookup(dateMonths, l[i+4]); ok {
					if err := ymd.add(mo, 'M'); err != nil {
						return i, err
					}
				} else if err := ymd.appendText(l[i+4], 0); err != nil {
					return i, err
				}
				i += 2
			}
			i++
		}
		i++
	case i+1 >= n || dateJump[strings.ToLower(l[i+1])]:
		if ap, ok := lookup(dateAMPM, tok(i+2)); ok && i+2 < n {
			res.hour = some(adjustAMPM(val.whole, ap))
			i++
		} else if err := ymd.appendInt(val.whole, 0); err != nil {
			return i, err
		}
		i++
	case isAMPM(l[i+1]) && val.whole < 24:
		ap, _ := lookup(dateAMPM, l[i+1])
		res.hour = some(adjustAMPM(val.whole, ap))
		i++
	case ymd.couldBeDay(val.whole):
		if err := ymd.appendInt(val.whole, 0); err != nil {
			return i, err
		}
	default:
		return i, errDate
	}
	return i, nil
}

func isAMPM(s string) bool { _, ok := lookup(dateAMPM, s); return ok }

// findHMS is dateutil's _find_hms_idx with allow_jump; -1 when there is none.
func findHMS(i int, l []string) int {
	n := len(l)
	is := func(j int) bool { _, ok := lookup(dateHMS, l[j]); return ok }
	switch {
	case i+1 < n && is(i+1):
		return i + 1
	case i+2 < n && l[i+1] == " " && is(i+2):
		return i + 2
	case i > 0 && is(i-1):
		return i - 1
	case 1 < i && i == n-1 && l[i-1] == " " && is(i-2):
		return i - 2
	}
	return -1
}

// build is dateutil's _build_naive and _build_tzaware: missing fields come from today at midnight in o.loc.
func (r *dateResult) build(o dateOpts) (time.Time, error) {
	if o.now.IsZero() {
		o.now = time.Now()
	}
	today := o.now.In(o.loc)
	year, month, day := today.Date()
	hour, minute, second, micro := 0, 0, 0, 0
	if r.year.set {
		year = r.year.v
	}
	if r.month.set {
		month = time.Month(r.month.v)
	}
	if r.day.set {
		day = r.day.v
	} else if year >= 1 && year <= 9999 && month >= 1 && month <= 12 && day > daysIn(year, int(month)) {
		day = daysIn(year, int(month))
	}
	for _, f := range []struct {
		o  opt
		to *int
	}{{r.hour, &hour}, {r.minute, &minute}, {r.second, &second}, {r.micro, &micro}} {
		if f.o.set {
			*f.to = f.o.v
		}
	}
	switch {
	case year < 1 || year > 9999:
		return time.Time{}, fmt.Errorf("year %d is out of range", year)
	case month < 1 || month > 12:
		return time.Time{}, errors.New("month must be in 1..12")
	case day < 1 || day > daysIn(year, int(month)):
		return time.Time{}, errors.New("day is out of range for month")
	case hour > 23:
		return time.Time{}, errors.New("hour must be in 0..23")
	case minute > 59:
		return time.Time{}, errors.New("minute must be in 0..59")
	case second > 59:
		return time.Time{}, errors.New("second must be in 0..59")
	}
	loc := o.loc
	switch {
	case r.tzoffset.set && r.tzoffset.v == 0:
		loc = time.UTC
	case r.tzoffset.set:
		if r.tzoffset.v <= -86400 || r.tzoffset.v >= 86400 {
			return time.Time{}, errors.New("time zone offset is out of range")
		}
		loc = time.FixedZone(r.tzname, r.tzoffset.v)
	case len(r.tzname) >= 3:
		return time.Time{}, fmt.Errorf("time zone %q is not known (only UTC, GMT, Z and numeric offsets are)", r.tzname)
	}
	t := time.Date(year, month, day, hour, minute, second, micro*1000, loc)
	if r.weekday.set && !r.day.set {
		// relativedelta(weekday=...): the next such weekday, today included.
		d := (r.weekday.v - (int(t.Weekday())+6)%7 + 7) % 7
		t = t.AddDate(0, 0, d)
	}
	return t, nil
}
