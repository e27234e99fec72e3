// Package download fetches one file over many HTTP(S) connections,
// resumably, and publishes it only once it is complete and its SHA-256
// computed (and compared, when one is expected). It is what `rget get`
// runs, importable by other Go programs:
//
//	res, err := download.Run(ctx, "https://example.com/big.iso", download.Options{
//		Output:      "/data/big.iso", // "" derives the name as `rget get` does
//		Connections: 16,
//		SHA256:      "9f86d08…",      // optional
//		OnEvent:     func(e download.Event) { … }, // optional
//	})
//
// The pipeline of Run:
//
//  1. Already there: with an expected SHA-256 and an existing Output of
//     that digest, nothing is downloaded (Result.AlreadyComplete).
//  2. Probe (package segment): GET the first range (a MiB shared by the
//     connections, at least 256 KiB; the first byte when resuming),
//     following redirects: the final URL, the size, range support, the
//     validators (ETag, Last-Modified) that pin the version, the server's
//     name for the file. Its answer is kept and read as the download's
//     first range, so a small file takes one request. A server without
//     ranges is fetched as one stream, the probe's own response being its
//     start.
//  3. Resume or start: OUT.rget (package journal) is opened and compared
//     with the remote; if the remote is unchanged and the part file is the
//     recorded size, the recorded ranges and the checkpointed SHA-256
//     state are taken up, else OUT.part is emptied and preallocated and a
//     new journal created. OUT.part is locked: two processes never write
//     the same file.
//  4. Fetch, in one errgroup: the workers (segment.Fetch: the ledger and
//     policy) write ranges into OUT.part, 32 KiB per write (writeChunk);
//     beside them the hash cursor (package merge) feeds the completed
//     prefix into SHA-256 from the page cache (no range is handed out past
//     the hashed offset plus a lead: job.hashLead),
//     and the checkpoint loop records progress: cheap records every
//     Options.Checkpoint (no fsync; trusted after a process crash on the
//     same boot), durable ones every 3 s. The first failure anywhere
//     (a range failing for good, a journal that cannot be written, a hash
//     read) stops everything at once.
//  5. On failure or interruption: a last durable checkpoint, so that the
//     next Run resumes; the part file and the journal stay.
//  6. Finalize (package merge): hash what the cursor has not, compare with
//     the expected digest, fsync, rename OUT.part to OUT, fsync the
//     directory, remove the journal.
//
// Durability order, held by job.checkpoint, the one function that writes a
// record: the hash cursor's offset is read before the ranges' progress
// (it never claims more than the completed prefix); for a durable record
// the data is synced first, then the record appended and the journal
// synced. The journal may lag the data, never lead it.
//
// Guaranteed: OUT appears only complete and, with an expected digest,
// verified; a changed remote file is never spliced into the bytes of the
// old one (If-Range with the pinned validator on every request);
// credentials in Options.Header never go to another host than the one
// asked, nor from https to http; each byte counts once in the progress.
//
// Not guaranteed: a power loss may lose up to 3 s of progress (never
// correctness); without an expected digest nothing proves the server sent
// the right bytes; a slow OnEvent slows the connections whose requests it
// is told of.
package download
