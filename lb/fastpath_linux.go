package lb

import (
	"net"
	"syscall"
)

// peerClosed reports whether the instance closed (or reset) nc while it
// sat idle: one non-blocking peek, no data consumed.
func peerClosed(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
			// Open, nothing to read: what an idle connection looks like.
		case rerr != nil || n == 0:
			closed = true // reset, or EOF
		default:
			closed = true // unsolicited bytes: not a clean connection
		}
		return true
	})
	return closed || err != nil
}
