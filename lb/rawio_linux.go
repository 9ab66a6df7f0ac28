package lb

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawIO reads and writes a TCP connection of the fast paths with raw
// system calls, still waiting for readiness through the runtime's poller
// (syscall.RawConn). A read or write on a non-blocking loopback socket
// returns in microseconds, and net.Conn's way of making it — a system
// call that tells the scheduler it may block (entersyscall, exitsyscall)
// — costs more than the call when the machine is saturated: the monitor
// thread (sysmon) sees the thread "in a system call" for more than its
// 20 µs tick, hands its P to another thread (a futex wake, a context
// switch), and, having retaken a P, keeps ticking every 20 µs. Profiled
// under bench-lb, that bookkeeping was about an eighth of the lb's CPU
// (closing note of issue 13). A raw call cannot block: EAGAIN makes the
// RawConn wait for the descriptor, as net.Conn does.
//
// Its methods are those of net.Conn's Read and Write (io.EOF at the end,
// *net.OpError for a failed call, the RawConn's error for a deadline or
// a closed connection). A Read may run while a Write does, as on a
// net.Conn (each has its own state); two Reads, or two Writes, may not.
type rawIO struct {
	nc         net.Conn
	rc         syscall.RawConn
	rd, wr     rawCall            // the read and the write in progress (lb/fastpath.go)
	rdFn, wrFn func(uintptr) bool // rd.read and writeFD, bound once
}

// newRawIO returns nc's raw I/O, or nil when nc has no descriptor.
func newRawIO(nc net.Conn) *rawIO {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawIO{nc: nc, rc: rc}
	r.rdFn, r.wrFn = r.rd.read, r.writeFD // bound once: no closure per call
	return r
}

func (r *rawIO) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c := &r.rd
	c.p, c.n, c.errno = p, 0, 0
	err := r.rc.Read(r.rdFn)
	c.p = nil
	if err != nil {
		return 0, err
	}
	return c.readResult(r.nc)
}

// read is one raw read into c.p; false (EAGAIN) makes the RawConn wait.
func (c *rawCall) read(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.p[0])), uintptr(len(c.p)))
		switch e {
		case 0:
			c.n = int(n)
			return true
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.errno = e
			return true
		}
	}
}

// readResult is what net.Conn.Read on nc reports for the read c made:
// io.EOF for a closed connection, a *net.OpError for a failed call.
func (c *rawCall) readResult(nc net.Conn) (int, error) {
	switch {
	case c.errno != 0:
		return 0, rawOpError(nc, "read", c.errno)
	case c.n == 0:
		return 0, io.EOF
	}
	return c.n, nil
}

func (r *rawIO) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c := &r.wr
	c.p, c.n, c.errno = p, 0, 0
	err := r.rc.Write(r.wrFn)
	c.p = nil
	switch {
	case err != nil:
		return c.n, err
	case c.errno != 0:
		return c.n, rawOpError(r.nc, "write", c.errno)
	}
	return c.n, nil
}

// writeFD writes what is left of the buffer; false (EAGAIN: the socket's
// buffer is full) makes the RawConn wait. MSG_NOSIGNAL: a closed peer is
// EPIPE, not a signal.
func (r *rawIO) writeFD(fd uintptr) bool {
	c := &r.wr
	for c.n < len(c.p) {
		n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&c.p[c.n])), uintptr(len(c.p)-c.n),
			syscall.MSG_NOSIGNAL, 0, 0)
		switch e {
		case 0:
			c.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.errno = e
			return true
		}
	}
	return true
}

// rawOpError is the error net.Conn reports for a failed op on nc.
func rawOpError(nc net.Conn, op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: nc.LocalAddr(), Addr: nc.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}

// ioOf is what the fast paths read and write nc with: its raw I/O when it
// has a descriptor, nc itself otherwise.
func ioOf(nc net.Conn) io.ReadWriter {
	if r := newRawIO(nc); r != nil {
		return r
	}
	return nc
}
