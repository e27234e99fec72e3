package segment

// MinSplit is the default size of the smallest planned range, and the
// hedge budget per connection.
const MinSplit = 1 << 20

// Range is the half-open byte range [Start, End) of the resource, of which
// the first Done bytes are written to the destination.
type Range struct {
	Start, End, Done int64
}

// SegmentSize picks the size of the ranges Split cuts for a resource of size
// bytes fetched over conns connections: about sixteen ranges per connection
// but at least 4 MiB (each request costs a round trip), at least four per
// connection (the queue balances fast and slow connections), within
// [MinSplit, 64 MiB]. Small ranges keep the completed prefix, and so the
// hash, close behind the download: on a capped link (1 GiB, 16 connections
// at 25 MB/s) 4 MiB ranges finished in 2.72 s with 0.04 s left to verify,
// 16 MiB ones in 2.85 s with 0.2 s. The policy cuts them shorter near the
// end (the taper) and splits them when a connection falls idle.
func SegmentSize(size int64, conns int) int64 {
	if conns <= 0 {
		conns = 1
	}
	c := int64(conns)
	s := max(size/(16*c), 4<<20)
	s = min(s, size/(4*c), 64<<20)
	return max(s, MinSplit) &^ (Block - 1)
}

// Block is the unit the ledger cuts ranges in (but at the file's end): the
// page, and the block of direct I/O (internal/directio), so that a range's
// bytes but its last few go around the page cache and no two ranges share
// a block, which both would write through it.
const Block = 4 << 10

// blockUp rounds off up to a whole Block.
func blockUp(off int64) int64 { return (off + Block - 1) &^ (Block - 1) }

// Split tiles [0, size) with ranges of segSize bytes in file order; the last
// one may be shorter. It returns nil for size <= 0.
func Split(size, segSize int64) []Range {
	if size <= 0 {
		return nil
	}
	if segSize <= 0 {
		segSize = size
	}
	n := (size + segSize - 1) / segSize
	rs := make([]Range, 0, n)
	for start := int64(0); start < size; start += segSize {
		rs = append(rs, Range{Start: start, End: min(start+segSize, size)})
	}
	return rs
}
