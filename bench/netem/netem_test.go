package netem

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer serves a line echo on loopback until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func startProxy(t *testing.T) *Proxy {
	t.Helper()
	p, err := Start(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes a line and reads it back within timeout.
func roundTrip(c net.Conn, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	if err := c.SetDeadline(start.Add(timeout)); err != nil {
		return 0, err
	}
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, err
	}
	if line != "ping\n" {
		return 0, errors.New("echo garbled: " + line)
	}
	return time.Since(start), nil
}

func TestPassThroughAndLatency(t *testing.T) {
	ctx := context.Background()
	p := startProxy(t)
	c := dial(t, p.Addr())
	if _, err := roundTrip(c, 5*time.Second); err != nil {
		t.Fatalf("pass-through: %v", err)
	}
	const rtt = 30 * time.Millisecond
	if err := p.SetLatency(ctx, rtt, 2*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// Latency can only add: assert the lower bound, never an upper one.
	// rtt - jitter is the least one exchange can take.
	for _, conn := range []net.Conn{c, dial(t, p.Addr())} { // open and new connections
		took, err := roundTrip(conn, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if took < rtt-2*time.Millisecond {
			t.Errorf("round trip with %s added took %s", rtt, took)
		}
	}
	if got, _ := p.Latency(); got != rtt {
		t.Errorf("Latency() = %s, want %s", got, rtt)
	}
	if err := p.SetLatency(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(c, 5*time.Second); err != nil {
		t.Fatalf("after clearing the latency: %v", err)
	}
}

func TestSetLatencyRejectsNegative(t *testing.T) {
	p := startProxy(t)
	if err := p.SetLatency(context.Background(), -time.Millisecond, 0); err == nil {
		t.Fatal("negative latency accepted")
	}
}

func TestCutHangsUntilHealed(t *testing.T) {
	ctx := context.Background()
	p := startProxy(t)
	held := dial(t, p.Addr())
	if _, err := roundTrip(held, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Cut(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Cut(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	// A partition hangs: the open connection gets no answer, and a new
	// one connects (unlike a crash, which refuses) but gets none either.
	for name, c := range map[string]net.Conn{"open": held, "new": dial(t, p.Addr())} {
		_, err := roundTrip(c, 300*time.Millisecond)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s connection while cut: got %v, want a hang (deadline exceeded)", name, err)
		}
	}
	if err := p.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	// The heal closes what was cut (its bytes were dropped) ...
	if err := held.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := held.Read(make([]byte, 16)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("connection cut before the heal: read = %v, want it closed", err)
	}
	// ... and new connections go through again.
	if _, err := roundTrip(dial(t, p.Addr()), 5*time.Second); err != nil {
		t.Fatalf("after the heal: %v", err)
	}
	if p.IsCut() {
		t.Error("IsCut after Heal")
	}
}

func TestCloseRefuses(t *testing.T) {
	p := startProxy(t)
	addr := p.Addr()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("closed proxy still accepts connections")
	}
	if err := p.Cut(context.Background()); err == nil {
		t.Fatal("Cut on a closed proxy succeeded")
	}
}
