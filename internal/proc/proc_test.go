package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the child: with childEnv set it runs the
// behaviour named there instead of the tests.
const childEnv = "PROC_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode, os.Args[len(os.Args)-1]))
	}
	os.Exit(m.Run())
}

func child(mode, arg string) int {
	switch mode {
	case "listen": // listen on arg until SIGTERM; exit 1 if the port is taken
		ln, err := net.Listen("tcp", arg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		return 0
	case "exit3":
		return 3
	case "ignore-term": // ignore SIGTERM, tell the parent, then wait forever
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		select {}
	case "grandparent": // start a grandchild in our group, print its pid, wait
		cmd := exec.Command(os.Args[0], "-test.run=^$", "x")
		cmd.Env = append(os.Environ(), childEnv+"=sleep")
		if err := cmd.Start(); err != nil {
			return 1
		}
		fmt.Println(cmd.Process.Pid)
		select {}
	case "sleep": // print our pid, then wait forever
		fmt.Println(os.Getpid())
		select {}
	}
	return 2
}

func spec(t *testing.T, name, mode, arg string) Spec {
	t.Helper()
	return Spec{
		Name: name, Path: os.Args[0], Args: []string{"-test.run=^$", arg},
		Env: append(os.Environ(), childEnv+"="+mode),
	}
}

func dialReady(addr string) ReadyFunc {
	return func(ctx context.Context) error {
		c, err := (&net.Dialer{Timeout: 100 * time.Millisecond}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

func TestStartReadyStop(t *testing.T) {
	addr, err := FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	s := spec(t, "listener", "listen", addr)
	s.Ready = dialReady(addr)
	p, err := Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !Alive(p.PID()) || p.Exited() {
		t.Fatalf("child %d not alive after a successful start", p.PID())
	}
	if !p.Stop(context.Background()) {
		t.Fatal("a child that handles SIGTERM was not stopped gracefully")
	}
	if !p.Exited() || p.Err() != nil {
		t.Fatalf("after Stop: exited=%v err=%v", p.Exited(), p.Err())
	}
	if p.Stop(context.Background()) != true {
		t.Fatal("a second Stop is not a no-op")
	}
}

func TestExitBeforeReady(t *testing.T) {
	s := spec(t, "quitter", "exit3", "x")
	s.Ready = func(context.Context) error { return errors.New("never ready") }
	_, err := Start(context.Background(), s)
	if !errors.Is(err, ErrExited) {
		t.Fatalf("Start = %v, want ErrExited", err)
	}
	if !strings.Contains(err.Error(), "quitter") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("error does not say who exited and how: %v", err)
	}
}

func TestReadyTimeoutKillsChild(t *testing.T) {
	s := spec(t, "sleeper", "sleep", "x")
	// Long enough for the child to print its pid; it is never ready.
	s.ReadyTimeout = 2 * time.Second
	pids := readPID(t, &s)
	pid := 0
	s.Ready = func(context.Context) error {
		select {
		case pid = <-pids:
		default:
		}
		return errors.New("not yet")
	}
	_, err := Start(context.Background(), s)
	if err == nil || errors.Is(err, ErrExited) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start = %v, want a readiness timeout", err)
	}
	if pid == 0 {
		t.Fatal("the child never printed its pid")
	}
	if Alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("child %d left running after a failed start", pid)
	}
}

// readPID points s's stdout at a pipe and returns a channel receiving the
// first line the child prints, as a pid.
func readPID(t *testing.T, s *Spec) <-chan int {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	s.Stdout = pw
	pids := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		if sc.Scan() {
			n, _ := strconv.Atoi(sc.Text())
			pids <- n
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return pids
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	s := spec(t, "stubborn", "ignore-term", "x")
	s.StopTimeout = 100 * time.Millisecond
	pr, pw := io.Pipe()
	s.Stdout = pw
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		if sc.Scan() && sc.Text() == "ready" {
			close(ready)
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	s.Ready = func(ctx context.Context) error {
		select {
		case <-ready:
			return nil
		default:
			return errors.New("has not ignored SIGTERM yet")
		}
	}
	p, err := Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	if p.Stop(context.Background()) {
		t.Fatal("Stop reported graceful for a child that ignores SIGTERM")
	}
	if !p.Exited() {
		t.Fatal("child still running after Stop")
	}
	var ws syscall.WaitStatus
	if ee := new(exec.ExitError); errors.As(p.Err(), &ee) {
		ws = ee.Sys().(syscall.WaitStatus)
	}
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", p.Err())
	}
}

func TestKillReachesProcessGroup(t *testing.T) {
	s := spec(t, "grandparent", "grandparent", "x")
	pids := readPID(t, &s)
	p, err := Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	var grandchild int
	select {
	case grandchild = <-pids:
	case <-time.After(10 * time.Second):
		p.Kill()
		t.Fatal("the child never printed its child's pid")
	}
	if !Alive(grandchild) {
		t.Fatalf("grandchild %d not alive before the kill", grandchild)
	}
	p.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for Alive(grandchild) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(grandchild, syscall.SIGKILL)
			t.Fatalf("grandchild %d survived the group kill", grandchild)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStartOnFreePortRetries: the first reserved port is taken by someone
// else before the child binds it; the child exits, and is started again on
// another port.
func TestStartOnFreePortRetries(t *testing.T) {
	squatter, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	free, err := FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{squatter.Addr().String(), free}
	var tried []string
	reserve := func() (string, error) {
		a := addrs[len(tried)]
		tried = append(tried, a)
		return a, nil
	}
	p, addr, err := startOnFreePort(context.Background(), 3, reserve, func(addr string) Spec {
		s := spec(t, "listener", "listen", addr)
		s.Ready = dialReadyOwn(addr, squatter.Addr().String())
		return s
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	if addr != free || len(tried) != 2 {
		t.Fatalf("started on %s after trying %v, want %s on the second try", addr, tried, free)
	}
}

// dialReadyOwn is dialReady, except that the squatter's port never counts
// as ready (it accepts, but it is not our child).
func dialReadyOwn(addr, squatter string) ReadyFunc {
	if addr == squatter {
		return func(context.Context) error { return errors.New("port owned by someone else") }
	}
	return dialReady(addr)
}

func TestStartOnFreePortGivesUp(t *testing.T) {
	n := 0
	_, _, err := startOnFreePort(context.Background(), 2, func() (string, error) {
		n++
		return "127.0.0.1:1", nil
	}, func(addr string) Spec {
		s := spec(t, "quitter", "exit3", addr)
		s.Ready = func(context.Context) error { return errors.New("no") }
		return s
	})
	if !errors.Is(err, ErrExited) || n != 2 {
		t.Fatalf("err=%v after %d attempts, want ErrExited after 2", err, n)
	}
}

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name string
		s    Spec
	}{
		{"no name", Spec{Path: "/bin/true"}},
		{"no path", Spec{Name: "x"}},
		{"negative timeout", Spec{Name: "x", Path: "/bin/true", StopTimeout: -1}},
	}
	for _, tt := range tests {
		if _, err := Start(context.Background(), tt.s); err == nil {
			t.Errorf("%s: Start accepted %+v", tt.name, tt.s)
		}
	}
}
