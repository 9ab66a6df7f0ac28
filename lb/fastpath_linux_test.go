package lb

import (
	"bufio"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestSendThenRead: the request goes out and its answer comes back
// through sendThenRead, however fast the peer answers (an answer whose
// readiness event came before the wait must not be lost: that would show
// as a read deadline), many times on one connection; a peer that closed
// reads io.EOF; a failed write is reported as sendErr.
func TestSendThenRead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // answer every 4-byte request at once with "ok"
				defer c.Close()
				b := make([]byte, 4)
				for {
					if _, err := io.ReadFull(c, b); err != nil {
						return
					}
					if string(b) == "quit" {
						return
					}
					if _, err := c.Write([]byte("ok")); err != nil {
						return
					}
				}
			}()
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	l := &limitedConn{Conn: nc, n: -1}
	l.raw, _ = nc.(syscall.Conn).SyscallConn()
	if l.raw == nil {
		t.Fatal("no raw conn")
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	bw := bufio.NewWriter(nc)
	p := make([]byte, 16)
	for i := range 500 {
		bw.WriteString("ping")
		n, err := l.sendThenRead(bw, p)
		if err != nil || string(p[:n]) != "ok" {
			t.Fatalf("exchange %d: %q %v", i, p[:n], err)
		}
	}
	bw.WriteString("quit")
	if n, err := l.sendThenRead(bw, p); n != 0 || err != io.EOF {
		t.Fatalf("after the peer closed: %d %v, want io.EOF", n, err)
	}
	// The peer is gone: writing soon fails (reset), reported as sendErr.
	for i := 0; ; i++ {
		bw.WriteString("ping")
		_, err := l.sendThenRead(bw, p)
		if l.sendErr != nil {
			if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("write error %v", err)
			}
			break
		}
		if i > 10 {
			t.Fatalf("writes to a closed peer kept succeeding: %v", err)
		}
	}
}
