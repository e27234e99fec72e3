package segment

import (
	"net"
	"syscall"
)

// withLowat wraps a TCP connection in a lowConn that can set SO_RCVLOWAT.
func withLowat(conn net.Conn) net.Conn {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return conn
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return conn
	}
	c := &lowConn{Conn: conn}
	c.set = func(v int) error {
		var serr error
		if err := raw.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, v)
		}); err != nil {
			return err
		}
		return serr
	}
	return c
}
