//go:build !unix

package cli

import "io"

// termHeight is the number of rows of the terminal w writes to, 0 if unknown.
func termHeight(io.Writer) int { return 0 }
