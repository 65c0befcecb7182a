package simulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	tbgateway "github.com/tbgateway/tbgateway"
)

// ackLog appends accepted telemetry records to a file, one JSON line each. Lines are written with one write
// each (no user-space buffering across records), so a killed process leaves at most a torn last line.
type ackLog struct {
	f   *os.File
	buf []byte
}

// ackLine is one line of the ack log.
type ackLine struct {
	Device string         `json:"device"`
	TS     int64          `json:"ts"`
	Values map[string]any `json:"values"`
}

func openAckLog(path string) (*ackLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ackLog: %w", err)
	}
	return &ackLog{f: f}, nil
}

func (a *ackLog) write(rec tbgateway.Record) error {
	a.buf = a.buf[:0]
	for _, t := range rec.Telemetry {
		line, err := json.Marshal(ackLine{Device: rec.Device, TS: t.TS, Values: t.Values})
		if err != nil {
			return fmt.Errorf("ackLog: %w", err)
		}
		a.buf = append(append(a.buf, line...), '\n')
	}
	if _, err := a.f.Write(a.buf); err != nil {
		return fmt.Errorf("ackLog %s: %w", a.f.Name(), err)
	}
	return nil
}

func (a *ackLog) close() { _ = a.f.Close() }

// ReadAckLog reads an ack log written by the simulator, skipping a torn last line, for delivery tests.
func ReadAckLog(path string) ([]AckEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []AckEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l ackLine
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		if err := d.Decode(&l); err != nil {
			continue // a torn last line of a killed process
		}
		out = append(out, AckEntry{Device: l.Device, TS: l.TS, Values: l.Values})
	}
	return out, sc.Err()
}

// AckEntry is one record of an ack log: values are json.Number, string or bool.
type AckEntry struct {
	Device string
	TS     int64
	Values map[string]any
}
