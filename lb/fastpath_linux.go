package lb

import (
	"bufio"
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

// sendThenRead writes bw's request, then reads the answer's first bytes
// into p without the read that finds nothing. net.Conn.Read tries a read
// first and waits for the descriptor only when it fails (EAGAIN); an
// answer is never there right after its request was written, so that
// read is one wasted system call per request. Here the write happens
// inside the RawConn's read loop, after the loop has reset the
// descriptor's readiness: the first callback writes and asks to wait,
// and a readiness event from the answer, however early it comes, cannot
// be lost (it arrives after the reset). Errors are what net.Conn.Read
// reports: io.EOF for a closed connection, a *net.OpError otherwise.
func (l *limitedConn) sendThenRead(bw *bufio.Writer, p []byte) (int, error) {
	if l.raw == nil || len(p) == 0 {
		return l.flushThenRead(bw, p)
	}
	st := &l.st
	if st.fn == nil {
		st.fn = l.sendThenReadFD // bound once: no closure per request
	}
	st.bw, st.sent = bw, false
	st.rd.p, st.rd.n, st.rd.errno = p, 0, 0
	err := l.raw.Read(st.fn)
	st.bw, st.rd.p = nil, nil
	switch {
	case l.sendErr != nil:
		return 0, l.sendErr
	case err != nil: // the read deadline, or the connection closed
		return 0, err
	}
	return st.rd.readResult(l.Conn)
}

// sendThenReadFD is sendThenRead's RawConn callback: the first call
// writes and asks to wait, the next ones read (rawCall.read, as rawIO's).
func (l *limitedConn) sendThenReadFD(fd uintptr) bool {
	st := &l.st
	if !st.sent {
		st.sent = true
		l.sendErr = st.bw.Flush()
		return l.sendErr != nil // written: wait for the answer
	}
	return st.rd.read(fd)
}
