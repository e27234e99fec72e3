// Package journal keeps the on-disk record of a download in progress, OUT.rget,
// so that a download interrupted by Ctrl-C, kill -9, the OOM killer or a power
// loss resumes where it stopped without ever trusting bytes that are not on disk.
//
// The journal keeps its own types (State, Part): its file format is a contract
// of its own, independent of how the rest of rget plans or fetches segments.
//
// # Protocol
//
// The caller owns the data file (OUT.part); the journal only describes it. The
// journal may lag the data, never lead it:
//
//  1. Create writes a durable first record before any data is fetched. Where
//     no journal exists yet and the record says nothing is done, it does not
//     wait for the disk (a power loss can take nothing the record claims):
//     the first durable Commit syncs the file and its directory.
//  2. Workers write data with WriteAt; the caller counts bytes written per part.
//  3. Often (every 100–250 ms): Commit(s, false), a cheap record. One write
//     syscall, no fsync. It describes bytes that are in the page cache.
//  4. Every few seconds, and when a part completes: take s, fdatasync the
//     data file, then Commit(s, true), a durable record: write and fsync the
//     journal.
//  5. On resume: Open (or Load) returns the last trusted state; the caller
//     refetches everything past each part's Done.
//  6. When the download is published: Remove.
//
// # Trust
//
// Every record is stamped with the kernel boot id (BootID). A process crash
// leaves the page cache intact, so within one boot a cheap record is as good as
// a durable one; a power loss or reboot may lose any data that was not synced,
// and changes the boot id. Hence, when decoding:
//
//   - a durable record is always trusted;
//   - a cheap record is trusted only if its boot id equals the current one
//     (and never when either is empty: without a boot id only durable records
//     survive a restart);
//   - the state returned is the one of the last trusted record before the
//     first torn or corrupt one.
//
// # File format (version 1)
//
// The file is a sequence of self-describing records; there is no separate
// file header, so a compacted or truncated file is still self-describing. The
// frame below is fixed for all versions; only the payload depends on the
// version. Integers in the frame are little-endian.
//
//	offset  size  field
//	0       4     magic "RGTJ"
//	4       1     version (1)
//	5       1     flags: bit 0 = durable; other bits zero
//	6       4     n, payload length (at most 64 MiB)
//	10      n     payload
//	10+n    4     CRC-32C (Castagnoli) of bytes [0, 10+n)
//
// The version 1 payload is a sequence of fields, where uvarint and varint are
// those of encoding/binary and a string is a uvarint length then the bytes:
//
//	string   boot id of the writer ("" if unknown)
//	varint   Saved, Unix seconds
//	uvarint  Saved, nanoseconds (< 1e9)
//	string   URL (never with userinfo)
//	uvarint  number of mirrors, then each mirror as a string
//	uvarint  Size
//	string   ETag
//	string   Last-Modified
//	string   expected SHA-256 in hex, "" if none
//	uvarint  HashOffset
//	string   HashState (crypto/sha256 marshaled state), "" if none
//	uvarint  number of runs, then each run:
//	  uvarint  kind | count<<2: count consecutive parts of equal length and Done
//	  uvarint  Start of the run's first part
//	  uvarint  length of each part (> 0)
//	  uvarint  Done of each part, only when kind is 2 (partial); kind 0 means
//	           Done = 0 (pending), kind 1 means Done = length (complete)
//
// Runs keep a plan of thousands of equal segments, mostly pending or complete,
// down to a few dozen bytes. The payload must be consumed exactly. A record
// whose frame is intact but whose version is unknown makes Decode fail with
// ErrVersion rather than silently fall back.
//
// A decoded record is validated before it is trusted (see State.Validate):
// parts sorted, non-empty and tiling [0, Size) exactly, 0 <= Done <= End-Start,
// HashOffset within the completed prefix and matching the byte count inside
// HashState, URLs without userinfo, at most MaxParts parts and MaxMirrors
// mirrors. A record that fails validation ends the walk like a corrupt one.
//
// # Compaction
//
// Records are appended at the end of the last good record. A durable commit
// compacts instead of appending once the file holds 64 records or 1 MiB; a
// cheap commit does so only past 8 MiB (it then pays one fsync). Compaction,
// Create and Open all replace the file the same way: write OUT.rget.tmp,
// fsync it, rename it over OUT.rget, fsync the directory. The compacted file
// holds the last durable record and, if newer, the last trusted cheap record,
// each byte for byte (boot id and time included).
//
// # Failure model
//
//   - kill -9 or a panic at any point: the file holds whole records plus at
//     most one torn record at the end; the torn record fails its length or CRC
//     check and is ignored. Cheap records of this boot are trusted, so the
//     rerun loses at most one checkpoint interval.
//   - Power loss or reboot: records not yet fsynced may be missing or garbage;
//     cheap records carry the old boot id and are ignored, so the state falls
//     back to the last durable record, whose data was fdatasynced before it
//     was written.
//   - Crash during compaction: before the rename, OUT.rget is untouched and
//     the stray OUT.rget.tmp is never read (it is overwritten by the next
//     compaction and deleted by Remove); after the rename, whichever file a
//     power loss leaves at OUT.rget, old or new, is complete and fsynced.
//   - Corruption in the middle of the file: the walk stops at the first bad
//     record, so the state falls back to an older one. Older states only
//     under-report the data on disk, which costs a refetch, never a wrong byte.
//   - A failed write or fsync: Commit returns the error and the next Commit
//     rewrites the whole file by compaction.
//
// Not guaranteed: that the data file itself is intact (a disk that lies
// about fsync, or a user who edits OUT.part, defeats the journal; the final
// SHA-256 verification catches it when a digest is known), that the remote
// resource is unchanged (State.CheckRemote and If-Range do that), and mutual
// exclusion between two processes downloading to the same OUT.
//
// The journal holds no credentials: Create and Commit strip userinfo from every
// URL (RedactURL) and no request header is ever stored. The query string is
// kept, because a resume needs it; the file is created with mode 0600.
package journal
