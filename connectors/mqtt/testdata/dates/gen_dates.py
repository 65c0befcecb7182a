#!/usr/bin/python3
# Generates expected.json, the tsField date table of the mqtt connector's tests: what the Python gateway's
# TBUtility.resolve_different_ts_formats makes of each date, i.e.
#     int(dateutil.parser.parse(text, dayfirst=..., yearfirst=...).timestamp() * 1000)
# for every input, with dayfirst and yearfirst each false and true, with the process's local zone set to each
# of ZONES (a date without a zone is local time in Python).
#
# Run it once with Debian's python-dateutil, not a pyenv or pip one:
#     apt-get install -y python3-dateutil
#     /usr/bin/python3 connectors/mqtt/testdata/dates/gen_dates.py > connectors/mqtt/testdata/dates/expected.json
# The table is committed; the Go test reads it and never computes expectations with the parser it tests.
import datetime
import json
import os
import sys
import time
import warnings

import dateutil
from dateutil import parser

ZONES = ["UTC", "Europe/Berlin", "America/New_York"]

INPUTS = [
    # The Python gateway's own tests (tests/unit/service/test_ts_format_resolver.py).
    "10.11.25 10:35:12.123",
    "2025-10-20T11:53:37.637Z",
    "10.11.25 10:35:12.123 +0200",
    # ISO 8601 and its compact forms.
    "2003-09-25T10:49:41",
    "2003-09-25T10:49",
    "2003-09-25T10",
    "2003-09-25",
    "20030925T104941",
    "20030925T1049",
    "20030925T10",
    "20030925",
    "2003-09-25 10:49:41,502",
    "199709020908",
    "19970902090807",
    "1994-11-05T08:15:30-05:00",
    "1994-11-05T08:15:30Z",
    "2020-01-01T10:00:00.123456Z",
    "2020-01-01T10:00:00.1234567Z",
    "2020-01-01T10:00:00,5Z",
    "2020-01-01T10:00:00+0530",
    "2020-01-01T10:00:00-03",
    "2020-01-01 10:00:00 +01:00",
    "2020-06-15 12:00:00",
    "2020-06-15T12:00:00.999",
    # Time zones by name and dateutil's POSIX reading of UTC+N.
    "2020-01-01 10:00 UTC",
    "2020-01-01 10:00 GMT",
    "2020-01-01 10:00Z",
    "2020-01-01 10:00 z",
    "2020-01-01 10:00 GMT+3",
    "2020-01-01 10:00 UTC-02:00",
    "Sat, 01 Feb 2020 10:00:00 GMT",
    "Sat, 01 Feb 2020 10:00:00 +0000",
    "2020-02-01 10:00:00 -0500 (EST)",
    # Numbers in every order: dayfirst and yearfirst decide.
    "09-25-2003",
    "25-09-2003",
    "10-09-2003",
    "10.09.2003",
    "10/09/2003",
    "10 09 2003",
    "10-09-03",
    "10.09.03",
    "10/09/03",
    "10 09 03",
    "03-09-10",
    "01/02/03 04:05:06",
    "31/12/2024 23:59:59",
    "12/31/2024 11:59:59 PM",
    "2024/12/31 23:59",
    "04.04.95 00:22",
    "7-4-76",
    "7 4 1976",
    "950404 122212",
    # Month and weekday names, 12-hour clocks, units.
    "Thu Sep 25 10:36:28 2003",
    "Wed, July 10, '96",
    "Tuesday, April 12, 1952 AD 3:30:42pm",
    "November 5, 1994, 8:15:30 am",
    "July 4, 1976",
    "4 jul 1976",
    "0:01:02 on July 4, 1976",
    "July 4, 1976 12:01:02 am",
    "Mon Jan  2 04:24:27 1995",
    "Jan 1 1999 11:23:34.578",
    "3rd of May 2001",
    "5th of March 2001",
    "13NOV2017",
    "Sep-25-2003",
    "25-Sep-2003",
    "2003-Sep-25",
    "10h36m28.5s 25 Sep 2003",
    "5:50 A.M. on June 13, 1990",
    # Zone names other than UTC/GMT/Z: dateutil ignores them (local time); the Go parser refuses them.
    "Thu Sep 25 10:36:28 BRST 2003",
    "1996.07.10 AD at 15:08:56 PDT",
    "November 5, 1994, 8:15:30 am EST",
    # Not dates.
    "",
    "not a date",
    "2020-13-45",
    "1700000000000",
    "2020-02-30",
    "10:00 PM",
    "25:00 2020-01-01",
]


def run(text, dayfirst, yearfirst):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = parser.parse(text, dayfirst=dayfirst, yearfirst=yearfirst)
        ms = int(d.timestamp() * 1000)
    except Exception as e:  # the gateway logs and falls back
        return {"error": type(e).__name__ + ": " + str(e)}
    aware = d if d.tzinfo is not None else d.astimezone()
    exact = (aware - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(milliseconds=1)
    out = {"ms": ms}
    if exact != ms:
        out["exactMs"] = exact
    if d.tzinfo is None:
        out["naive"] = True
    return out


def main():
    rows = []
    for zone in ZONES:
        os.environ["TZ"] = zone
        time.tzset()
        for text in INPUTS:
            for dayfirst in (False, True):
                for yearfirst in (False, True):
                    row = {"tz": zone, "in": text, "dayfirst": dayfirst, "yearfirst": yearfirst}
                    row.update(run(text, dayfirst, yearfirst))
                    rows.append(row)
    json.dump({
        "generator": "connectors/mqtt/testdata/dates/gen_dates.py",
        "python": sys.version.split()[0],
        "dateutil": dateutil.__version__,
        "today": datetime.date.today().isoformat(),
        "rows": rows,
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
