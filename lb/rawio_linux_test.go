package lb

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// rawPair returns a connected pair over loopback: the dialled side read
// and written through rawIO, and the accepted side as a plain net.Conn.
func rawPair(t *testing.T) (*rawIO, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { nc.Close(); peer.Close() })
	r := newRawIO(nc)
	if r == nil {
		t.Fatal("newRawIO: nil for a TCP connection")
	}
	return r, peer
}

// TestRawIOStreamsBothWays: a write far larger than the socket buffers
// (it must wait for the peer to drain them) arrives whole and in order,
// and reads return what the peer sent, then io.EOF once it closed.
func TestRawIOStreamsBothWays(t *testing.T) {
	r, peer := rawPair(t)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(peer, int64(len(payload))))
		got <- b
	}()
	if n, err := r.Write(payload); n != len(payload) || err != nil {
		t.Fatalf("Write: %d, %v; want %d, nil", n, err, len(payload))
	}
	if b := <-got; !bytes.Equal(b, payload) {
		t.Fatalf("the peer got %d bytes, not the %d written in order", len(b), len(payload))
	}
	if _, err := peer.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	peer.Close()
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "hello" {
		t.Fatalf("ReadAll: %q, %v; want hello, nil (io.EOF ends it)", b, err)
	}
	if n, err := r.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("Read after EOF: %d, %v; want 0, io.EOF", n, err)
	}
}

// TestRawIOErrors: the errors net.Conn gives, as callers test them.
func TestRawIOErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *rawIO, peer net.Conn)
		op    func(r *rawIO) error
		check func(error) bool
	}{
		{"read deadline passes",
			func(r *rawIO, _ net.Conn) { _ = r.nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond)) },
			func(r *rawIO) error { _, err := r.Read(make([]byte, 8)); return err },
			func(err error) bool { return isTimeout(err) && errors.Is(err, os.ErrDeadlineExceeded) }},
		{"write to a reset peer",
			func(_ *rawIO, peer net.Conn) {
				_ = peer.(*net.TCPConn).SetLinger(0) // close sends RST
				peer.Close()
			},
			func(r *rawIO) error {
				for range 100 {
					if _, err := r.Write([]byte("x")); err != nil {
						return err
					}
					time.Sleep(time.Millisecond) // let the RST arrive; bounded
				}
				return nil
			},
			func(err error) bool { return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) }},
		{"read on a closed connection",
			func(r *rawIO, _ net.Conn) { r.nc.Close() },
			func(r *rawIO) error { _, err := r.Read(make([]byte, 8)); return err },
			func(err error) bool { return errors.Is(err, net.ErrClosed) }},
		{"write on a closed connection",
			func(r *rawIO, _ net.Conn) { r.nc.Close() },
			func(r *rawIO) error { _, err := r.Write([]byte("x")); return err },
			func(err error) bool { return errors.Is(err, net.ErrClosed) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, peer := rawPair(t)
			tt.setup(r, peer)
			err := tt.op(r)
			if err == nil || !tt.check(err) {
				t.Fatalf("error %v (%T): not the one net.Conn gives", err, err)
			}
		})
	}
}

// TestRawIOFullDuplex: a Read waiting for data and a Write running at
// the same time (legal on a net.Conn) keep their own state.
func TestRawIOFullDuplex(t *testing.T) {
	r, peer := rawPair(t)
	payload := bytes.Repeat([]byte("w"), 4<<20)
	got := make(chan []byte, 1)
	go func() { // the peer drains the write, then answers
		b, _ := io.ReadAll(io.LimitReader(peer, int64(len(payload))))
		_, _ = peer.Write([]byte("answer"))
		got <- b
	}()
	read := make(chan string, 1)
	go func() { // waits while the write runs
		b := make([]byte, 16)
		n, err := r.Read(b)
		if err != nil {
			read <- err.Error()
			return
		}
		read <- string(b[:n])
	}()
	if n, err := r.Write(payload); n != len(payload) || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if b := <-got; len(b) != len(payload) {
		t.Fatalf("peer got %d bytes, want %d", len(b), len(payload))
	}
	if s := <-read; s != "answer" {
		t.Fatalf("Read got %q, want answer", s)
	}
}
