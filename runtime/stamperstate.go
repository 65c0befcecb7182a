package runtime

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
)

// StamperStateFile is the file in the gateway's data folder holding the highest timestamp the gateway's stamper
// ever gave out ahead of the wall clock, so that a restarted gateway does not give the same timestamps again.
const StamperStateFile = "stamper_state"

// stamperRecordLen is the length of the state file's one record: the timestamp as 20 decimal digits, a space,
// the CRC-32 of those digits as 8 hex digits, and a newline. The record has a fixed length, so each save
// overwrites the whole of the previous one in place.
const stamperRecordLen = 20 + 1 + 8 + 1

// stamperState is the stamper's open state file.
type stamperState struct {
	f    *os.File
	path string
}

// openStamperState opens (creating it, mode 0600, never through a symbolic link) the state file at path and
// returns it with the timestamp it holds. ok is false when the file holds no valid record (a new file, or a
// corrupt one, then err says why while the returned state is still usable); a file that cannot be opened is err
// with a nil state.
func openStamperState(path string) (st *stamperState, saved int64, ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|openNoFollow, 0o600)
	if err != nil {
		return nil, 0, false, fmt.Errorf("open stamper state %s: %w", path, err)
	}
	st = &stamperState{f: f, path: path}
	var b [stamperRecordLen + 1]byte // one byte more, to see trailing garbage
	n, err := f.ReadAt(b[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return st, 0, false, fmt.Errorf("read stamper state %s: %w", path, err)
	}
	if n == 0 {
		return st, 0, false, nil // a new file: the first start
	}
	saved, err = parseStamperRecord(b[:n])
	if err != nil {
		// Start the file afresh: a save overwrites only the record's bytes, not what is after them.
		if terr := f.Truncate(0); terr != nil {
			err = errors.Join(err, terr)
		}
		return st, 0, false, fmt.Errorf("stamper state %s: %w", path, err)
	}
	return st, saved, true, nil
}

// parseStamperRecord decodes one record of the state file.
func parseStamperRecord(b []byte) (int64, error) {
	if len(b) != stamperRecordLen || b[20] != ' ' || b[stamperRecordLen-1] != '\n' {
		return 0, fmt.Errorf("not one %d-byte record (%d bytes)", stamperRecordLen, len(b))
	}
	digits := b[:20]
	sum, err := strconv.ParseUint(string(b[21:29]), 16, 32)
	if err != nil || uint32(sum) != crc32.ChecksumIEEE(digits) {
		return 0, errors.New("checksum mismatch")
	}
	ts, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || ts < 0 {
		return 0, fmt.Errorf("bad timestamp %q", digits)
	}
	return ts, nil
}

// save overwrites the record with ts: one pwrite, no fsync. The page cache keeps the write when the process
// crashes or is killed, which is what a restart needs. Power loss may lose the last saves; the gateway then
// restarts only after the machine boots again, which takes longer than the lead the stamps can build over the
// clock in any realistic burst, whereas an fsync per stamp would cost a disk flush per message during a burst.
func (s *stamperState) save(ts int64) error {
	digits := fmt.Sprintf("%020d", ts)
	rec := fmt.Sprintf("%s %08x\n", digits, crc32.ChecksumIEEE([]byte(digits)))
	if _, err := s.f.WriteAt([]byte(rec), 0); err != nil {
		return fmt.Errorf("save stamper state %s: %w", s.path, err)
	}
	return nil
}

// close closes the file.
func (s *stamperState) close() error { return s.f.Close() }
