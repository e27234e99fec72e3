//go:build !unix

package segment

// newBuffer returns a connection's copy buffer of n bytes and the func that
// frees it.
func newBuffer(n int) ([]byte, func()) { return make([]byte, n), func() {} }

// NewBuffer returns n bytes and the func that frees them (mapped outside
// Go's heap on unix systems).
func NewBuffer(n int) ([]byte, func()) { return newBuffer(n) }

// newSlab is NewBuffer for n bytes to be used whole.
func newSlab(n int) ([]byte, func()) { return newBuffer(n) }
