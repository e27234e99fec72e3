// Package segment fetches one remote resource over many HTTP connections at
// once and writes it, range by range, into an io.WriterAt.
//
// The pipeline of one download:
//
//  1. Probe: GET with "Range: bytes=0-0", following redirects, learns the final
//     URL, the size, whether byte ranges are served, and the validators (ETag,
//     Last-Modified) that pin the version being fetched.
//  2. Plan: Split tiles [0, size) into many moderate ranges handed out in file
//     order from one queue, so fast connections take more work and the
//     completed prefix of the file grows steadily.
//  3. Fetch: a pool of workers (an errgroup bounded to the connection count)
//     takes ranges from the queue. Each issues "Range: bytes=a-b" with
//     If-Range, insists on a 206 whose Content-Range is exactly what it asked,
//     and copies the body through an io.TeeReader into an atomic counter and
//     with WriteAt into the destination at the range's offset. Near the end,
//     pending ranges are handed out cut shorter (the taper, see Plan) so the
//     last ones finish together. When the queue is empty, an idle worker
//     splits the in-flight range expected to finish last (work stealing),
//     never below the plan's minSplit. On Linux, plain-HTTP connections set a
//     receive low-water mark so a reader wakes once per mark, not per packet
//     (lowat.go).
//  4. A server that does not serve ranges gets one plain GET, written
//     sequentially, with the same accounting.
//
// Ranges are half-open [Start, End) everywhere; inclusive ends exist only in
// formatRange and parseContentRange, at the HTTP boundary.
//
// What is not guaranteed: the package never syncs the destination, and it
// records progress only in memory (Progress, and the Done of each range in
// Plan.Snapshot); durability is the caller's.
package segment
