package segment

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
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
	c.quick = func() error {
		var serr error
		if err := raw.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
		}); err != nil {
			return err
		}
		return serr
	}
	c.inq = func() int64 {
		var n int
		if raw.Control(func(fd uintptr) {
			n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		}) != nil {
			return 0
		}
		return int64(max(n, 0))
	}
	return c
}
