package uplink

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/tbgateway/tbgateway"
)

// deadLetter is one line of the dead-letter file.
type deadLetter struct {
	Time       time.Time         `json:"time"`
	Reason     string            `json:"reason"`
	ReasonCode int               `json:"reasonCode,omitempty"`
	Topic      string            `json:"topic,omitempty"`
	Payload    string            `json:"payload,omitempty"`
	Devices    []string          `json:"devices"`
	Seqs       []uint64          `json:"seqs,omitempty"`
	Key        string            `json:"key,omitempty"`
	Record     *tbgateway.Record `json:"record,omitempty"`
}

// deadLetterFile appends JSON lines; it is opened on first use.
type deadLetterFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

func (d *deadLetterFile) write(dl deadLetter) error {
	if d.file() == "" {
		return nil
	}
	line, err := json.Marshal(dl)
	if err != nil {
		return fmt.Errorf("encode dead letter: %w", err)
	}
	line = append(line, '\n')
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.path == "" {
		return nil
	}
	if d.f == nil {
		f, err := os.OpenFile(d.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open dead-letter file %s: %w", d.path, err)
		}
		d.f = f
	}
	if _, err := d.f.Write(line); err != nil {
		return fmt.Errorf("write dead-letter file %s: %w", d.path, err)
	}
	return nil
}

// file returns the dead-letter file's path.
func (d *deadLetterFile) file() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.path
}

// setPath makes later records go to path, closing the file opened for the previous one.
func (d *deadLetterFile) setPath(path string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if path == d.path {
		return nil
	}
	var err error
	if d.f != nil {
		err = d.f.Close()
		d.f = nil
	}
	d.path = path
	return err
}

func (d *deadLetterFile) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}

// deadLetterMessage records a message ThingsBoard rejected; its records are then acknowledged like sent ones.
func (c *Client) deadLetterMessage(m *outMsg, code byte, reason string) {
	err := c.dead.write(deadLetter{Time: time.Now(), Reason: reason, ReasonCode: int(code), Topic: m.topic,
		Payload: string(m.payload), Devices: m.devices, Seqs: m.seqs})
	// Counted after the write, so whoever sees the count finds the line in the file.
	c.stats.deadMessages.Add(1)
	c.stats.deadRecords.Add(uint64(len(m.seqs)))
	c.log.Warn("thingsboard rejected a message as malformed; its records went to the dead-letter file",
		"reason", fmt.Sprintf("0x%02x %s", code, reason), "topic", m.topic, "devices", m.devices,
		"records", len(m.seqs), "file", c.dead.file(), "writeError", err)
}

// deadValues records values of a record that can never be sent (not encodable, bigger than a message).
func (c *Client) deadValues(e *tbgateway.Entry, dead []deadValue) {
	for _, d := range dead {
		rec := e.Record
		err := c.dead.write(deadLetter{Time: time.Now(), Reason: d.reason, Devices: []string{d.device},
			Seqs: []uint64{d.seq}, Key: d.key, Record: &rec})
		c.stats.deadValues.Add(1)
		c.log.Warn("a value cannot be sent to thingsboard; it went to the dead-letter file", "device", d.device,
			"key", d.key, "reason", d.reason, "file", c.dead.file(), "writeError", err)
	}
}
