//go:build !linux

package lb

import (
	"bufio"
	"net"
)

// peerClosed cannot peek without blocking here: a closed idle connection
// is found when it is used.
func peerClosed(net.Conn) bool { return false }

// sendThenRead writes bw's request, then reads the answer's first bytes.
func (l *limitedConn) sendThenRead(bw *bufio.Writer, p []byte) (int, error) {
	return l.flushThenRead(bw, p)
}
