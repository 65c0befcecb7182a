package tbgateway

import (
	"context"
	"errors"
)

// Storage keeps records between the connectors and the uplink. Implementations live under storage/<type>/ and
// must all pass the same conformance suite.
//
// The delivery contract every Storage keeps:
//   - Put returns only after the records are durable under the configured sync policy; only then may the
//     connector acknowledge its device side.
//   - Records leave storage only through Ack, which the uplink calls after ThingsBoard's PUBACK (or after the
//     record went to the dead-letter file).
//   - Next hands out records in the order they were Put; order per device is therefore kept.
//   - Every record is handed out once in normal operation. After Rewind (a dropped link) or a restart, the
//     records handed out but not acknowledged are handed out again, first and in their original order: they are
//     the only possible duplicates.
//   - The store is bounded. When full, the configured policy applies: refuse new (Put fails with ErrStorageFull,
//     the default, so devices see backpressure) or drop oldest; every drop is counted in Stats.
//
// All methods are safe for concurrent use; there may be many writers and one reader.
type Storage interface {
	// Put stores records durably, in order.
	Put(ctx context.Context, recs []Record) error
	// Next returns up to max records not yet handed out, oldest first. It blocks until at least one is
	// available or ctx is done.
	Next(ctx context.Context, max int) ([]Entry, error)
	// Ack removes delivered records. Acks may arrive in any order; each sequence number is acknowledged once.
	Ack(seqs ...uint64) error
	// Rewind makes every handed-out, unacknowledged record available to Next again (after a dropped link).
	Rewind()
	// Stats returns counters of the store.
	Stats() StorageStats
	// Close releases the store; records not yet acknowledged are kept (for durable types).
	Close() error
}

// Entry is a stored record with its sequence number, unique and increasing within a store.
type Entry struct {
	Seq    uint64
	Record Record
}

// StorageStats are a storage's counters.
type StorageStats struct {
	// Count is the number of records stored and not yet acknowledged.
	Count int
	// Dropped counts records dropped by the "drop oldest" policy.
	Dropped uint64
	// Refused counts records refused by the "refuse new" policy.
	Refused uint64
	// Redelivered counts records handed out again after Rewind or a restart.
	Redelivered uint64
}

// ErrStorageFull is returned by Put when the store is full and the policy is to refuse new records.
var ErrStorageFull = errors.New("storage is full")

// ErrStorageClosed is returned by calls on a closed storage.
var ErrStorageClosed = errors.New("storage is closed")

// FullPolicy says what a full storage does with new records.
type FullPolicy string

const (
	// RefuseNew fails Put with ErrStorageFull (the default).
	RefuseNew FullPolicy = "refuse-new"
	// DropOldest removes the oldest unacknowledged records to make room, counting each.
	DropOldest FullPolicy = "drop-oldest"
)
