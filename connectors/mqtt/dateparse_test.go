package mqtt

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the table's zones, on machines without a zoneinfo folder
)

// dateTable is testdata/dates/expected.json, written once by testdata/dates/gen_dates.py with Debian's
// python3-dateutil: what the Python gateway makes of each tsField text.
type dateTable struct {
	Dateutil string `json:"dateutil"`
	Today    string `json:"today"`
	Rows     []struct {
		TZ        string `json:"tz"`
		In        string `json:"in"`
		DayFirst  bool   `json:"dayfirst"`
		YearFirst bool   `json:"yearfirst"`
		MS        *int64 `json:"ms"`
		Error     string `json:"error"`
	} `json:"rows"`
}

// refusedZoneNames are the table's inputs with a zone name other than UTC, GMT or Z: dateutil ignores the name
// and reads local time (hours off for the user who wrote it); the connector refuses the date instead, so the
// record falls back to the message's timestamp and the fault is logged.
var refusedZoneNames = map[string]bool{
	"Thu Sep 25 10:36:28 BRST 2003":    true,
	"1996.07.10 AD at 15:08:56 PDT":    true,
	"November 5, 1994, 8:15:30 am EST": true,
}

// loadDateTable reads the table.
func loadDateTable(t *testing.T) dateTable {
	t.Helper()
	b, err := os.ReadFile("testdata/dates/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var table dateTable
	if err := json.Unmarshal(b, &table); err != nil {
		t.Fatal(err)
	}
	return table
}

// TestParseDateTable: every row of the dateutil table gives the same epoch milliseconds (or, for dateutil's
// errors, an error), in the row's local zone, with its dayfirst and yearfirst.
func TestParseDateTable(t *testing.T) {
	table := loadDateTable(t)
	if len(table.Rows) < 500 {
		t.Fatalf("the table has %d rows; regenerate it with gen_dates.py", len(table.Rows))
	}
	today, err := time.Parse("2006-01-02", table.Today)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, r := range table.Rows {
		loc, err := time.LoadLocation(r.TZ)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Date(today.Year(), today.Month(), today.Day(), 12, 0, 0, 0, loc)
		got, err := parseDate(r.In, dateOpts{dayFirst: r.DayFirst, yearFirst: r.YearFirst, loc: loc, now: now})
		name := r.TZ + " " + `"` + r.In + `"`
		if r.DayFirst {
			name += " dayfirst"
		}
		if r.YearFirst {
			name += " yearfirst"
		}
		switch {
		case refusedZoneNames[r.In]:
			if err == nil {
				t.Errorf("%s: %d, want an error naming the zone", name, got.UnixMilli())
				failed++
			} else if !strings.Contains(err.Error(), "time zone") {
				t.Errorf("%s: error %q does not name the zone", name, err)
			}
		case r.MS == nil:
			if err == nil {
				t.Errorf("%s: %d (%s), dateutil: %s", name, got.UnixMilli(), got, r.Error)
				failed++
			}
		case err != nil:
			t.Errorf("%s: %v, dateutil: %d", name, err, *r.MS)
			failed++
		case got.UnixMilli() != *r.MS:
			t.Errorf("%s: %d (%s), dateutil: %d (%s)", name, got.UnixMilli(), got.UTC(), *r.MS, time.UnixMilli(*r.MS).UTC())
			failed++
		}
		if failed > 40 {
			t.Fatal("too many differences")
		}
	}
}

// FuzzParseDate: no input makes the parser panic, and a parsed date is within the years dateutil can build.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"10.11.25 10:35:12.123", "2025-10-20T11:53:37.637Z", "Thu Sep 25 10:36:28 2003",
		"2020-01-01 10:00 GMT+3", "3rd of May 2001", "10h36m28.5s", "5:50 A.M. on June 13, 1990", "Sep.20.2009",
		"2020-02-01 10:00:00 -0500 (EST)", "199709020908", "12,5", "+", "Jan-", "1 of"} {
		f.Add(s, false, true)
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string, dayFirst, yearFirst bool) {
		got, err := parseDate(s, dateOpts{dayFirst: dayFirst, yearFirst: yearFirst, loc: time.UTC, now: now})
		if err == nil && (got.Year() < 0 || got.Year() > 10000) {
			t.Errorf("%q: year %d", s, got.Year())
		}
	})
}
