package lb

import "syscall"

// clientGone reports whether the client closed (or reset) the connection
// behind rc: one non-blocking peek, nothing consumed. Bytes waiting (a
// pipelined request) or an unusable descriptor say nothing: false.
func clientGone(rc syscall.RawConn) bool {
	gone := false
	var b [1]byte
	err := rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
		case rerr != nil:
			gone = true // reset
		case n == 0:
			gone = true // EOF
		}
		return true
	})
	return err == nil && gone
}
