package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
)

const (
	slotFile  = "tbgw-ackpos"
	slotMagic = "TBGWPOS1"
	slotSize  = len(slotMagic) + 8 + 4
)

func slotPath(dir string) string { return filepath.Join(dir, slotFile) }

// encodeSlot returns the slot's bytes: magic, the acknowledged prefix and a CRC32C of both.
func encodeSlot(prefix uint64) []byte {
	b := make([]byte, 0, slotSize)
	b = append(b, slotMagic...)
	b = binary.LittleEndian.AppendUint64(b, prefix)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// readSlot returns the prefix the slot file holds. ok is false when the file is missing, torn or otherwise
// invalid: the slot is only a shortcut, the checkpoint in tbgw-ack is the durable record.
func readSlot(dir string) (prefix uint64, ok bool, err error) {
	b, err := os.ReadFile(slotPath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", slotPath(dir), err)
	}
	if len(b) < slotSize || string(b[:len(slotMagic)]) != slotMagic ||
		crc32.Checksum(b[:slotSize-4], castagnoli) != binary.LittleEndian.Uint32(b[slotSize-4:slotSize]) {
		return 0, false, nil
	}
	return binary.LittleEndian.Uint64(b[len(slotMagic):]), true, nil
}

// openSlot opens the slot file for writing, creating it if needed; its content is kept until the first write.
func openSlot(dir string) (*os.File, error) {
	f, err := os.OpenFile(slotPath(dir), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", slotPath(dir), err)
	}
	return f, nil
}

// savePrefix writes the acknowledged prefix to the slot file with one pwrite and no fsync, when it moved since
// the last write: the page cache keeps it across a crash of the process, so that only the records in flight are
// handed out again. A failure is logged when it starts and when it recovers; the checkpoint still covers the
// position. Callers hold mu.
func (s *Store) savePrefix() {
	if s.slot == nil || s.prefix == s.slotPrefix {
		return
	}
	_, err := s.slot.WriteAt(encodeSlot(s.prefix), 0)
	switch {
	case err != nil && !s.slotFailing:
		s.log.Warn("file storage: saving the read position failed; a crash repeats the records acknowledged "+
			"since the last checkpoint", "file", slotPath(s.opts.Dir), "err", err)
	case err == nil && s.slotFailing:
		s.log.Info("file storage: saving the read position works again", "file", slotPath(s.opts.Dir))
	}
	s.slotFailing = err != nil
	if err == nil {
		s.slotPrefix = s.prefix
	}
}
