//go:build !linux

package segment

import "net"

// withLowat leaves conn as it is: low-water marks are used on Linux only.
func withLowat(conn net.Conn) net.Conn { return conn }
