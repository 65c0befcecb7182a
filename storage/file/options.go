package file

import (
	"log/slog"
	"os"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// Defaults and floors of Options.
const (
	// DefaultMaxSegments is the Python "max_file_count" code default.
	DefaultMaxSegments = 5
	// MinRecordsPerSegment is the floor of RecordsPerSegment. The Python "max_records_per_file" code default is
	// 3, which is absurd for a segment; any smaller value (that one included) means this floor, and Open logs it.
	MinRecordsPerSegment = 1000
	// DefaultSegmentBytes bounds the size of one segment.
	DefaultSegmentBytes = 16 << 20
	// DefaultSyncInterval is how long the writer waits for MaxRecordsBetweenFsync records before it syncs anyway.
	DefaultSyncInterval = 10 * time.Millisecond
	// DefaultAckBatch is how many acknowledgements trigger a checkpoint of the read position.
	DefaultAckBatch = 4096
	// DefaultAckInterval is how often a changed read position is checkpointed at the latest.
	DefaultAckInterval = 200 * time.Millisecond
)

// Options configure a Store. The Python file storage's keys map as follows: data_folder_path → Dir,
// max_file_count → MaxSegments, max_records_per_file → RecordsPerSegment, max_records_between_fsync →
// MaxRecordsBetweenFsync; max_read_records_count is the uplink's batch size and not used here. The capacity is
// MaxRecords, by default MaxSegments × RecordsPerSegment records.
type Options struct {
	// Dir is the directory of the log ("data_folder_path"); it is created if missing. Required.
	Dir string
	// MaxSegments ("max_file_count") times RecordsPerSegment is the default record capacity; zero or less means
	// DefaultMaxSegments.
	MaxSegments int
	// RecordsPerSegment ("max_records_per_file") closes a segment after this many records; values below
	// MinRecordsPerSegment mean MinRecordsPerSegment.
	RecordsPerSegment int
	// MaxRecordsBetweenFsync ("max_records_between_fsync") is the fsync policy. 1 or less (the default): the
	// writer syncs as soon as it has written what is queued (concurrent Puts still share one fsync). N > 1: the
	// writer waits up to SyncInterval for N records to gather before it syncs, trading Put latency for fewer
	// fsyncs. In both cases Put returns only after the fsync covering its records. N > 1 pays only when more
	// than N records are usually in flight at once: with fewer, every Put waits the whole SyncInterval.
	MaxRecordsBetweenFsync int
	// SyncInterval bounds the wait of MaxRecordsBetweenFsync > 1; zero means DefaultSyncInterval.
	SyncInterval time.Duration

	// MaxRecords is the most unacknowledged records held; zero means MaxSegments × RecordsPerSegment.
	MaxRecords int
	// MaxBytes, when positive, bounds the bytes of the segments that still hold unacknowledged records.
	// Segments then hold at most MaxBytes/4 bytes each, and drop-oldest makes room a whole segment at a time.
	MaxBytes int64
	// SegmentBytes closes a segment at this size; zero means DefaultSegmentBytes.
	SegmentBytes int64
	// Policy is what a full store does with new records; empty means tbgateway.RefuseNew.
	Policy tbgateway.FullPolicy
	// AckBatch and AckInterval say how often the read position is checkpointed (see the package doc); zero
	// means DefaultAckBatch and DefaultAckInterval.
	AckBatch    int
	AckInterval time.Duration

	// openSegment opens a segment file for appending; tests replace it to inject faults or observe syncs.
	openSegment func(path string) (segmentFile, error)
}

// segmentFile is what the writer needs of an open segment.
type segmentFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Truncate(size int64) error
	Close() error
}

func openSegmentFile(path string) (segmentFile, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o644)
}

// withDefaults fills in defaults and logs the floors it applied.
func (o Options) withDefaults(log *slog.Logger) Options {
	if o.MaxSegments <= 0 {
		o.MaxSegments = DefaultMaxSegments
	}
	if o.RecordsPerSegment < MinRecordsPerSegment {
		if o.RecordsPerSegment > 0 {
			log.Info("file storage: records per segment raised to the floor",
				"max_records_per_file", o.RecordsPerSegment, "floor", MinRecordsPerSegment)
		}
		o.RecordsPerSegment = MinRecordsPerSegment
	}
	if o.MaxRecordsBetweenFsync < 1 {
		o.MaxRecordsBetweenFsync = 1
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.MaxRecords <= 0 {
		o.MaxRecords = o.MaxSegments * o.RecordsPerSegment
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.MaxBytes > 0 {
		o.SegmentBytes = max(min(o.SegmentBytes, o.MaxBytes/4), 1)
	}
	if o.Policy == "" {
		o.Policy = tbgateway.RefuseNew
	}
	if o.AckBatch <= 0 {
		o.AckBatch = DefaultAckBatch
	}
	if o.AckInterval <= 0 {
		o.AckInterval = DefaultAckInterval
	}
	if o.openSegment == nil {
		o.openSegment = openSegmentFile
	}
	return o
}
