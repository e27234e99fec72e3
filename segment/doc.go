// Package segment fetches one remote resource over many HTTP connections at
// once and writes it, range by range, into an io.WriterAt.
//
// The pipeline of one download:
//
//  1. Probe: GET with "Range: bytes=0-0", following redirects, learns the final
//     URL, the size, whether byte ranges are served, and the validators (ETag,
//     Last-Modified) that pin the version being fetched. With
//     Options.FirstRange it asks for the first bytes of the file instead,
//     and Fetch reads that answer as connection 0's first range: a small
//     file takes one request, and the first range no extra round trip.
//  2. Plan: Split tiles [0, size) into moderate ranges, the Ledger's pieces.
//  3. Fetch: a pool of workers (an errgroup bounded to the connection count)
//     asks the Ledger what to do (Acquire). The Ledger builds a read-only View
//     (pieces pending and leased, per-connection rate and latency estimates,
//     the time) and the Policy, a pure function of it, answers: take the next
//     pending range (cut shorter near the end, joined with the next ones for
//     a fast, distant connection), split the range expected to finish last,
//     take over a stalled one, race a slow one's last bytes (a hedge), or
//     wait. The worker then holds a Lease: it issues "Range: bytes=a-b" with
//     If-Range, insists on a 206 whose Content-Range is exactly what it asked,
//     and writes the body through Lease.Write, which never writes past the
//     piece's end (a split may move it closer) nor a byte a racing lease has
//     written. Taking bytes from a lease cancels its request's context at
//     once (ErrLost). Received bytes feed the rate estimate as they arrive,
//     and are written at least every 20 ms.
//  4. Failures: one classification (retryable) and one retry policy: a
//     failed range goes back to the ledger from its last written byte, held
//     back for the backoff (Retry-After honoured); failures in a row count
//     against Options.Retries. The probe and a single stream share the loop
//     (Options.retry).
//  5. A server that does not serve ranges gets one plain GET (the probe's own
//     response, with Options.KeepStream), written sequentially.
//
// Ranges are half-open [Start, End) everywhere; inclusive ends exist only in
// formatRange and parseContentRange, at the HTTP boundary.
//
// The scheduler is proven by a simulator in sim_test.go: the real Ledger and
// Policy under virtual time over modelled links, thousands of them a run.
//
// What is not guaranteed: the package never syncs the destination, and it
// records progress only in memory (Ledger.Snapshot, Ledger.Done); durability
// is the caller's.
package segment
