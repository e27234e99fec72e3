// Package merge finalizes a download: it hashes the part file in order while
// the download runs, verifies the result, and publishes it under its final
// name only when it is complete and verified.
//
//  1. A Cursor follows the completed prefix of the part file (Follow polls a
//     function that reports it, and wakes when told it changed) and feeds
//     it into SHA-256, read back in order (through the reader's own View
//     where it has one: a file written direct). By the time the last byte arrives only the last
//     few ranges are left to hash.
//  2. Finalize hashes what is left, checks the size and the expected digest,
//     syncs the part file, renames it to the final name and syncs the
//     directory. The final name never holds a partial or unverified file.
//
// The cursor's hash state can be saved (State) and restored (Resume), so a
// resumed download need not hash its completed prefix again.
package merge
