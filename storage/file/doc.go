// Package file is the durable tbgateway.Storage: an append-only segment log on local disk, the replacement for
// the Python gateway's "file" storage (it can import that storage's files, see below).
//
// # Files
//
// Everything lives in Options.Dir under names that never collide with the Python storage's files:
//
//   - tbgw-<first seq, 20 digits>.seg: a segment, a sequence of frames
//     [u32 payload length][u32 CRC32C of the next 8+length bytes][u64 seq][payload], all little endian. The payload
//     is tbgateway.Record.AppendBinary. Sequence numbers are consecutive within a segment and increase across
//     segments. A segment is closed when it holds RecordsPerSegment records or SegmentBytes bytes and deleted
//     once every record in it is acknowledged or dropped (at the next checkpoint; the newest one stays).
//   - tbgw-ack: the read position, written atomically (temporary file, fsync, rename, directory fsync): the
//     contiguous acknowledged prefix, the sequence numbers acknowledged beyond it (acks may come out of order), and
//     the highest sequence number handed out by Next, all under a CRC32C.
//   - tbgw-ackpos: the contiguous acknowledged prefix alone, [8-byte magic][u64 prefix][u32 CRC32C], rewritten in
//     place with one pwrite (no fsync) by every Ack that moves the prefix. Open takes the higher of its prefix and
//     the checkpoint's; a torn or otherwise invalid slot is ignored.
//
// # Delivery contract
//
//   - Put returns only after an fsync that covers every byte of its records has completed (group commit: the
//     records of concurrent Puts are written with one write and one fsync). MaxRecordsBetweenFsync > 1 never
//     weakens this; it only lets the writer wait up to SyncInterval for more records before the fsync.
//   - A Put that fails stores none of its records: a partial write is truncated back (disk full, I/O error).
//   - A full disk fails Put with an error wrapping tbgateway.ErrStorageFull under RefuseNew. Under DropOldest the
//     writer instead deletes the oldest segment (never the newest) and writes again, as often as needed; the
//     unacknowledged records of each deleted segment are counted in Dropped and logged. A checkpoint that finds
//     the disk full under DropOldest makes room the same way.
//   - Next hands out records in Put order; Ack removes them in any order; Rewind re-serves the unacknowledged
//     handed-out records first (counted in Redelivered).
//   - The read position is checkpointed (fsynced) to tbgw-ack after AckBatch acknowledgements or AckInterval,
//     whichever comes first, and on Close; the acknowledged prefix also goes to tbgw-ackpos on every Ack that
//     moves it. After a clean Close nothing acknowledged comes back.
//   - After a crash of the process (SIGKILL, panic; the kernel keeps running, so the unsynced tbgw-ackpos
//     survives in the page cache), the records handed out again are exactly the records above the acknowledged
//     prefix that were handed out, less those the last checkpoint recorded as acknowledged: those not
//     acknowledged (in flight), and those acknowledged since the last checkpoint out of order, beyond the first
//     unacknowledged record. The latter are about the uplink's in-flight window, as the uplink settles records
//     roughly in order; a record that stays unacknowledged long (retried) holds the prefix, and what is
//     acknowledged after it repeats, up to AckBatch or AckInterval's worth until the next checkpoint records it.
//     An Ack that had not returned when the process died may repeat too.
//   - After a power loss or kernel crash, tbgw-ackpos may be lost or stale, and the records handed out again are
//     those above the prefix of the last completed checkpoint: the above plus the records acknowledged since that
//     checkpoint — about AckBatch at most (plus those made while a checkpoint is being written), none older than
//     AckInterval plus one checkpoint write — unless checkpoints fail (a full disk), which is logged.
//   - Records at or below the handed-out mark of the last checkpoint that come out again are counted in
//     Redelivered; records first handed out after the last checkpoint are handed out again uncounted.
//     Nothing that Put returned for is lost, nothing is reordered.
//
// # Live lane
//
// The Store is a tbgateway.LiveReader (see there for the contract): NextLive starts the lane at the next sequence
// number to be committed, and the writer, which assigns sequence numbers under the store's lock, gives the lane
// every live-eligible record committed from then on (telemetry only, with no unacknowledged connect or disconnect
// of its device stored; Open finds those in the segments it scans). The lane is state of this process only: its
// records are in the segments like any other (durable before Put returns), and an in-memory copy of those not yet
// handed out serves NextLive without reading the disk. Next skips the running lane's records. Rewind ends the
// lane: its unacknowledged records come from Next again in their place in sequence order, those NextLive had
// handed out counted in Redelivered. Nothing of the lane is persisted: the read position and the crash
// guarantees above are unchanged, and after a restart every unacknowledged record comes from Next, in order;
// there, as for Next's own records, those at or below the checkpoint's handed-out mark are counted as
// redelivered (which, for a record of the lane, includes one that NextLive had not handed out yet).
//
// # Recovery
//
// Open scans every segment. A frame whose length is impossible, whose CRC does not match or whose sequence number
// does not follow its predecessor ends the segment there: the file is truncated to its valid prefix, logged and
// counted (FileStats.TornTails for the last segment, the usual result of a crash mid-write; FileStats.Corrupt for
// an earlier segment, where the records lost are counted from the gap in sequence numbers up to the next segment).
// The store does not try to resynchronise inside a damaged segment: a damaged length field makes every later
// offset a guess.
//
// # Python file storage import
//
// When Dir holds the Python gateway's data_<ms>.txt files (one base64(JSON) event per line) and its
// state_file.txt ({"file","position"}), Open imports the events not yet read — from the state's file and line on,
// in file order — into the log, then renames each imported file (and the state file) to <name>.imported so a
// restart does not import them twice. Nothing of the Python storage is deleted. A crash between the import and the
// rename imports the same events again on the next start. Imported records are never refused for the record or
// byte bound (the Python gateway had accepted them already); under drop-oldest the usual drops apply afterwards.
package file
