// Package proc is authlab's one process supervisor: it starts a child (a
// copy of our own executable, redis-server or haproxy) in its own process
// group, waits until it is ready, signals it, stops it (SIGTERM, then
// SIGKILL after a grace) and reaps it. The load balancer, the harness and
// the Redis helper all start their children through it.
//
// Every child gets its own process group, so a signal reaches it and
// whatever it started, and a parent-death signal (SIGKILL), so no child
// outlives a supervisor that died without cleaning up.
package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Defaults of Spec's durations.
const (
	DefaultReadyTimeout = 30 * time.Second
	DefaultStopTimeout  = 5 * time.Second
	// DefaultPollInterval is how often Ready is polled while starting.
	DefaultPollInterval = 20 * time.Millisecond
)

// ErrExited is returned (wrapped) when a child exits before it was ready.
var ErrExited = errors.New("process exited before it was ready")

// ReadyFunc reports whether a child is ready to serve: nil when it is. It
// is polled until it returns nil, the child exits or the start times out.
type ReadyFunc func(ctx context.Context) error

// Spec describes one child process.
type Spec struct {
	// Name names the child in errors and logs ("auth", "gw2", "redis").
	Name string
	// Path is the executable; Args its arguments (without argv[0]).
	Path string
	Args []string
	// Env is the child's whole environment (nil: inherit ours). Secrets go
	// here, never in Args: argv is readable by every user of the machine.
	Env []string
	// Dir is the working directory (empty: ours).
	Dir string
	// Stdout and Stderr receive the child's output (nil: discarded).
	Stdout, Stderr io.Writer
	// Ready, when set, is polled until the child is ready.
	Ready ReadyFunc
	// ReadyTimeout bounds the wait for Ready (default DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// StopTimeout is the grace between SIGTERM and SIGKILL in Stop
	// (default DefaultStopTimeout).
	StopTimeout time.Duration
}

// Validate reports a problem with s.
func (s Spec) Validate() error {
	switch {
	case s.Name == "":
		return errors.New("proc: spec has no name")
	case s.Path == "":
		return fmt.Errorf("proc %s: no executable", s.Name)
	case s.ReadyTimeout < 0 || s.StopTimeout < 0:
		return fmt.Errorf("proc %s: negative timeout", s.Name)
	}
	return nil
}

// Process is one running (or exited) child.
type Process struct {
	name        string
	cmd         *exec.Cmd
	pid         int
	stopTimeout time.Duration
	done        chan struct{}
	err         error // Wait's result, valid once done is closed

	stopOnce sync.Once
}

// Start starts spec's child and, when spec.Ready is set, waits until it is
// ready. If the child exits first the error wraps ErrExited; on any error
// the child is killed and reaped before Start returns.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if spec.ReadyTimeout == 0 {
		spec.ReadyTimeout = DefaultReadyTimeout
	}
	if spec.StopTimeout == 0 {
		spec.StopTimeout = DefaultStopTimeout
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	cmd.Dir = spec.Dir
	cmd.Stdout, cmd.Stderr = spec.Stdout, spec.Stderr
	// Own process group: signals reach everything the child starts.
	// Parent-death signal: killed by the kernel if we die without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	p := &Process{name: spec.Name, cmd: cmd, pid: cmd.Process.Pid, stopTimeout: spec.StopTimeout, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if spec.Ready == nil {
		return p, nil
	}
	if err := p.waitReady(ctx, spec.Ready, spec.ReadyTimeout); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

func (p *Process) waitReady(ctx context.Context, ready ReadyFunc, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(DefaultPollInterval)
	defer t.Stop()
	var last error
	for {
		if last = ready(ctx); last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s (pid %d): %w: %v", p.name, p.pid, ErrExited, p.err)
		case <-ctx.Done():
			return fmt.Errorf("%s (pid %d) not ready: %w (last check: %v)", p.name, p.pid, ctx.Err(), last)
		case <-t.C:
		}
	}
}

// Name returns the child's name.
func (p *Process) Name() string { return p.name }

// PID returns the child's process id (also its process group id).
func (p *Process) PID() int { return p.pid }

// Done is closed once the child has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the child has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns how the child ended (nil for exit status 0); valid once Done
// is closed.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Signal sends sig to the child's process group. Signalling an exited
// child is a no-op.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	if err := syscall.Kill(-p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %v to %s (process group %d): %w", sig, p.name, p.pid, err)
	}
	return nil
}

// Kill SIGKILLs the child's group (no goodbye: memory gone, connections
// reset) and waits until it is reaped.
func (p *Process) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop asks the child to stop (SIGTERM, and SIGCONT in case it is
// frozen), SIGKILLs it after its StopTimeout or when ctx ends, and waits
// until it is reaped. It reports whether the child stopped on SIGTERM.
// Stopping a stopped child is a no-op (true).
func (p *Process) Stop(ctx context.Context) bool {
	graceful := true
	p.stopOnce.Do(func() {
		_ = p.Signal(syscall.SIGTERM)
		_ = p.Signal(syscall.SIGCONT)
		t := time.NewTimer(p.stopTimeout)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			graceful = false
		case <-ctx.Done():
			graceful = false
		}
		p.Kill()
	})
	return graceful
}

// FreeLoopbackAddr returns a 127.0.0.1 address whose port was free a moment
// ago. The port is released before returning, so another process may take
// it before the child binds it: StartOnFreePort retries on another port.
func FreeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find free loopback port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("release port %s: %w", addr, err)
	}
	return addr, nil
}

// DefaultPortAttempts is how many ports StartOnFreePort tries.
const DefaultPortAttempts = 3

// StartOnFreePort starts the child that build describes for a free
// loopback address, and starts it again on another free address when it
// exits before it is ready (typically: another process took the port
// between reservation and bind), at most attempts times (0: the default).
// It returns the process and the address it listens on.
func StartOnFreePort(ctx context.Context, attempts int, build func(addr string) Spec) (*Process, string, error) {
	return startOnFreePort(ctx, attempts, FreeLoopbackAddr, build)
}

func startOnFreePort(ctx context.Context, attempts int, reserve func() (string, error), build func(addr string) Spec) (*Process, string, error) {
	if attempts <= 0 {
		attempts = DefaultPortAttempts
	}
	var last error
	for range attempts {
		addr, err := reserve()
		if err != nil {
			return nil, "", err
		}
		p, err := Start(ctx, build(addr))
		if err == nil {
			return p, addr, nil
		}
		last = err
		if !errors.Is(err, ErrExited) || ctx.Err() != nil {
			break
		}
	}
	return nil, "", last
}

// Alive reports whether pid is a live process (not gone, not a zombie):
// for children the supervisor did not start itself, such as the gateways
// an lb started.
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	st := string(b)
	for i := len(st) - 1; i >= 0; i-- {
		if st[i] == ')' {
			return i+2 < len(st) && st[i+2] != 'Z'
		}
	}
	return false
}
