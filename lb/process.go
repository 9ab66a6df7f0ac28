package lb

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authlab/authlab/internal/proc"
)

// Child processes run under internal/proc (own process group, parent-death
// SIGKILL, readiness, SIGTERM then SIGKILL, reaping). This file adds what
// the lb needs on top: which endpoint a child listens on, the exits the lb
// caused itself (no event), the exits it did not (an event, and the
// instance out of rotation at once), and no start once the lb stops.

// startAttempts bounds how often a child is started on fresh ports when it
// exits before answering (typically: a port was taken between its
// reservation and the child's bind).
const startAttempts = 3

// reviveSameAddr is how often a revive tries the instance's current ports
// before moving it to fresh ones.
const reviveSameAddr = 3

// reviveRetryPause separates the revive's tries on the same ports: the
// old process's sockets may take a moment to be released.
const reviveRetryPause = 100 * time.Millisecond

// child is one run of a child instance's process.
type child struct {
	*proc.Process
	expected atomic.Bool // the lb ended it: its exit is no event
}

// kill SIGKILLs c's group and waits until it is reaped.
func (c *child) kill() {
	c.expected.Store(true)
	c.Kill()
}

// stop asks c to stop (SIGTERM; SIGCONT in case it is frozen), SIGKILLs it
// after its StopTimeout, and waits until it is reaped. It reports whether
// c stopped on SIGTERM.
func (c *child) stop() bool {
	c.expected.Store(true)
	return c.Stop(context.Background())
}

// freshEndpoint reserves a data and an admin port on loopback for child
// id, and starts its front when the lb has one.
func (l *LB) freshEndpoint(ctx context.Context, id string) (*endpoint, error) {
	addr, err := proc.FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	admin, err := proc.FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	return l.startFront(ctx, id, newEndpoint(addr, admin, l.cfg.HealthPath))
}

// launch starts a process for child instance in and waits until it
// answers its health check (within StartupTimeout, and no longer than the
// lb runs). It tries the instance's current endpoint sameTries times first
// (a revive: the old process may still hold the ports a moment), then
// fresh ports, moving on whenever the child exits before it is ready.
// Close waits for a launch in progress; once the lb stops, nothing starts.
func (l *LB) launch(ctx context.Context, in *instance, sameTries int) (*child, error) {
	if err := l.track(); err != nil {
		return nil, err
	}
	defer l.wg.Done()
	ctx, cancel := context.WithTimeout(ctx, l.cfg.StartupTimeout)
	defer cancel()
	defer context.AfterFunc(l.ctx, cancel)()
	var last error
	for attempt := range sameTries + startAttempts {
		switch {
		case attempt == 0:
		case attempt < sameTries:
			pause(ctx, reviveRetryPause) // the old process's sockets may linger
		case attempt == sameTries:
			l.log.Warn("revive: ports still taken; moving the instance to fresh ones", "instance", in.id, "err", last)
		default:
			l.log.Warn("child not ready; starting it on other ports", "instance", in.id, "err", last)
		}
		before := in.endpoint()
		ep := before
		if attempt >= sameTries {
			fresh, err := l.freshEndpoint(ctx, in.id)
			if err != nil {
				return nil, err
			}
			ep = fresh
		}
		c, err := l.startOn(ctx, in, ep)
		switch {
		case ep == before:
		case err == nil:
			l.closeFront(before) // the ports the child left
		default:
			l.closeFront(ep) // the ports it did not take
		}
		switch {
		case err == nil:
			return c, nil
		case l.ctx.Err() != nil:
			return nil, ErrStopping
		case !errors.Is(err, proc.ErrExited) || ctx.Err() != nil:
			return nil, err
		}
		last = err
	}
	return nil, last
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// startOn starts one process of instance in on ep and, once it is ready,
// makes it the instance's current process and ep its endpoint.
func (l *LB) startOn(ctx context.Context, in *instance, ep *endpoint) (*child, error) {
	spec := l.cfg.Command(Child{ID: in.id, Addr: ep.childAddr(), AdminAddr: ep.adminAddr})
	if spec.Name == "" {
		spec.Name = in.id
	}
	if spec.Stdout == nil {
		spec.Stdout = l.cfg.ChildOutput
	}
	if spec.Stderr == nil {
		spec.Stderr = l.cfg.ChildOutput
	}
	// An answer naming another instance does not count: something else
	// took the port.
	spec.Ready = func(ctx context.Context) error { return l.check(ctx, ep.health, in.id) }
	spec.ReadyTimeout = l.cfg.StartupTimeout
	spec.StopTimeout = l.cfg.StopTimeout
	p, err := proc.Start(ctx, spec)
	if err != nil {
		return nil, err
	}
	c := &child{Process: p}
	l.lifeMu.Lock()
	defer l.lifeMu.Unlock()
	if l.stopping {
		c.kill()
		return nil, ErrStopping
	}
	in.mu.Lock()
	in.proc = c
	in.mu.Unlock()
	in.ep.Store(ep)
	l.log.Info("child started", "instance", in.id, "addr", ep.addr, "listen", ep.childAddr(), "admin_addr", ep.adminAddr, "pid", c.PID())
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		<-c.Done()
		l.onExit(in, c)
	}()
	return c, nil
}

// onExit records a child's exit the lb did not ask for.
func (l *LB) onExit(in *instance, c *child) {
	if c.expected.Load() {
		return
	}
	in.mu.Lock()
	current := in.proc == c
	in.mu.Unlock()
	if !current || !l.ready() {
		return
	}
	reason := "exited"
	if err := c.Err(); err != nil {
		reason = err.Error()
	}
	if l.cfg.IgnoreExits {
		// Learn of it from requests and health checks only, like an lb
		// that does not supervise its instances.
		l.log.Warn("child exited; left in rotation (ignore-exits)", "instance", in.id, "pid", c.PID(), "reason", reason)
		l.events.add(Event{Type: EventExit, Instance: in.id, Reason: reason + " (ignored: ignore-exits)", PID: c.PID()})
		return
	}
	l.log.Warn("child exited", "instance", in.id, "pid", c.PID(), "reason", reason)
	l.events.add(Event{Type: EventExit, Instance: in.id, Reason: reason, PID: c.PID()})
	l.markDown(in, "exit")
}

// stopChild stops c, logging when it had to be killed.
func (l *LB) stopChild(in *instance, c *child) {
	if !c.stop() {
		l.log.Warn("child ignored SIGTERM; killed it", "instance", in.id, "pid", c.PID())
	}
}

// stopChildren stops every child process and waits for them. Nothing new
// is started afterwards.
func (l *LB) stopChildren() {
	l.lifeMu.Lock()
	l.stopping = true
	l.lifeMu.Unlock()
	var wg sync.WaitGroup
	for _, in := range l.insts {
		if c := in.child(); c != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.stopChild(in, c)
			}()
		}
	}
	wg.Wait()
}

// track counts one more goroutine or launch in l.wg, unless the lb is
// stopping: lifeMu orders it before stopChildren, so wg.Add never races
// Close's Wait. The caller calls l.wg.Done.
func (l *LB) track() error {
	l.lifeMu.Lock()
	defer l.lifeMu.Unlock()
	if l.stopping {
		return ErrStopping
	}
	l.wg.Add(1)
	return nil
}

// goTracked runs f in a goroutine tracked by l.wg unless the lb is stopping.
func (l *LB) goTracked(f func()) error {
	if err := l.track(); err != nil {
		return err
	}
	go func() {
		defer l.wg.Done()
		f()
	}()
	return nil
}
