package lb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/authlab/authlab/internal/netutil"
)

// startAttempts bounds how often a child is started on fresh ports when it
// exits before answering (typically: a port was taken between its
// reservation and the child's bind).
const startAttempts = 3

// reviveSameAddr is how often a revive tries the instance's current ports
// before moving it to fresh ones.
const reviveSameAddr = 3

// freshEndpoint reserves a data and an admin port on loopback.
func (l *LB) freshEndpoint() (*endpoint, error) {
	addr, err := netutil.FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	admin, err := netutil.FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	return newEndpoint(addr, admin, l.cfg.HealthPath), nil
}

// startChild starts the child on fresh loopback ports and waits for its
// health check, moving it to other ports when it exits first.
func (l *LB) startChild(ctx context.Context, in *instance) error {
	var lastErr error
	for range startAttempts {
		ep, err := l.freshEndpoint()
		if err != nil {
			return err
		}
		p, err := l.spawn(in, ep)
		if err != nil {
			return err
		}
		if lastErr = l.waitHealthy(ctx, ep.health, p, in.id); lastErr == nil {
			return nil
		}
		l.killProcess(p)
		if ctx.Err() != nil {
			break
		}
		l.log.Warn("child not ready; starting it on other ports", "instance", in.id, "err", lastErr)
	}
	return fmt.Errorf("instance %s: %w", in.id, lastErr)
}

// spawn starts one process of child instance in on ep and makes both the
// instance's current process and endpoint.
func (l *LB) spawn(in *instance, ep *endpoint) (*process, error) {
	cmd := l.cfg.Command(Child{ID: in.id, Addr: ep.addr, AdminAddr: ep.adminAddr})
	if cmd == nil {
		return nil, fmt.Errorf("instance %s: Command returned nil", in.id)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Own process group: signals reach everything the child starts.
	cmd.SysProcAttr.Setpgid = true
	// Killed by the kernel if the lb dies without cleaning up.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	out := l.cfg.ChildOutput
	if out == nil {
		out = io.Discard
	}
	if cmd.Stdout == nil {
		cmd.Stdout = out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = out
	}
	l.lifeMu.Lock()
	defer l.lifeMu.Unlock()
	if l.stopping {
		return nil, fmt.Errorf("instance %s: %w", in.id, ErrStopping)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("instance %s: start: %w", in.id, err)
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	in.mu.Lock()
	in.proc = p
	in.mu.Unlock()
	in.ep.Store(ep)
	l.log.Info("child started", "instance", in.id, "addr", ep.addr, "admin_addr", ep.adminAddr, "pid", p.pid)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		p.err = cmd.Wait()
		close(p.done)
		l.onExit(in, p)
	}()
	return p, nil
}

// onExit records a child's exit the lb did not ask for.
func (l *LB) onExit(in *instance, p *process) {
	if p.expected.Load() {
		return
	}
	in.mu.Lock()
	current := in.proc == p
	in.mu.Unlock()
	if !current || !l.ready() {
		return
	}
	reason := "exited"
	if p.err != nil {
		reason = p.err.Error()
	}
	l.log.Warn("child exited", "instance", in.id, "pid", p.pid, "reason", reason)
	l.events.add(Event{Type: EventExit, Instance: in.id, Reason: reason, PID: p.pid})
	l.markDown(in, "exit")
}

// waitHealthy polls health URL u until it answers 200, ctx ends or process
// p (when non-nil) exits. With wantID, an answer naming another instance
// does not count: something else took the port.
func (l *LB) waitHealthy(ctx context.Context, u string, p *process, wantID string) error {
	var lastErr error
	for {
		if err := l.check(ctx, u, wantID); err == nil {
			return nil
		} else {
			lastErr = err
		}
		var exited <-chan struct{}
		if p != nil {
			exited = p.done
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last error: %v)", u, ctx.Err(), lastErr)
		case <-exited:
			return fmt.Errorf("process %d exited before %s answered: %v", p.pid, u, p.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitExternal waits until an external instance answers its health check
// and, when it has an admin address, the admin plane's /healthz.
func (l *LB) waitExternal(ctx context.Context, ep *endpoint) error {
	if err := l.waitHealthy(ctx, ep.health, nil, ""); err != nil {
		return err
	}
	if ep.adminAddr == "" {
		return nil
	}
	if err := l.waitHealthy(ctx, "http://"+ep.adminAddr+"/healthz", nil, ""); err != nil {
		return fmt.Errorf("admin address: %w", err)
	}
	return nil
}

// check does one health check of URL u. With wantID, a JSON answer whose
// "instance" field names another instance fails.
func (l *LB) check(ctx context.Context, u, wantID string) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.HealthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := l.health.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if wantID != "" {
		var b struct {
			Instance string `json:"instance"`
		}
		if json.Unmarshal(body, &b) == nil && b.Instance != "" && b.Instance != wantID {
			return fmt.Errorf("answered as instance %q, not %q", b.Instance, wantID)
		}
	}
	return nil
}

// signalGroup sends sig to p's process group.
func signalGroup(p *process, sig syscall.Signal) error {
	if p.exited() {
		return nil
	}
	if err := syscall.Kill(-p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %v to process group %d: %w", sig, p.pid, err)
	}
	return nil
}

// killProcess SIGKILLs p's group and waits for p to exit.
func (l *LB) killProcess(p *process) {
	p.expected.Store(true)
	_ = signalGroup(p, syscall.SIGKILL)
	<-p.done
}

// stopProcess asks p to stop (SIGTERM; SIGCONT in case it is frozen),
// then SIGKILLs it after StopTimeout, and waits for it.
func (l *LB) stopProcess(p *process) {
	p.expected.Store(true)
	_ = signalGroup(p, syscall.SIGTERM)
	_ = signalGroup(p, syscall.SIGCONT)
	select {
	case <-p.done:
	case <-time.After(l.cfg.StopTimeout):
		l.log.Warn("child ignored SIGTERM, killing", "pid", p.pid)
		l.killProcess(p)
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
		in.mu.Lock()
		p := in.proc
		in.mu.Unlock()
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.stopProcess(p)
		}()
	}
	wg.Wait()
}

// Kill modes.
const (
	ModeSIGKILL = "sigkill" // SIGKILL the child (external: POST /_admin/exit)
	ModeDrain   = "drain"   // stop routing, wait for in-flight requests, then stop it
	ModeFreeze  = "freeze"  // SIGSTOP the child: sockets stay open, nothing answers
)

// Kill kills instance id in mode. sigkill and freeze are done when Kill
// returns; drain stops routing at once and finishes in the background (a
// "drained" event marks the end).
func (l *LB) Kill(ctx context.Context, id, mode string) (InstanceInfo, error) {
	in, ok := l.byID[id]
	if !ok {
		return InstanceInfo{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	switch mode {
	case ModeSIGKILL, ModeDrain, ModeFreeze:
	default:
		return InstanceInfo{}, fmt.Errorf("%w %q (want %s, %s or %s)", ErrBadMode, mode, ModeSIGKILL, ModeDrain, ModeFreeze)
	}
	if mode == ModeFreeze && in.external {
		return InstanceInfo{}, fmt.Errorf("%w: freeze needs a child process; %s is external", ErrBadMode, id)
	}
	if in.external && in.endpoint().adminAddr == "" {
		return InstanceInfo{}, fmt.Errorf("%w: %s was given without one, so it cannot be stopped (give it as --instance-addr DATA@ADMIN)", ErrNoAdmin, id)
	}
	in.op.Lock()
	defer in.op.Unlock()

	st := in.state()
	switch {
	case st == killed:
		return InstanceInfo{}, fmt.Errorf("%w: %s is already killed", ErrConflict, id)
	case st == draining:
		return InstanceInfo{}, fmt.Errorf("%w: %s is draining", ErrConflict, id)
	case st == frozen && mode != ModeSIGKILL:
		return InstanceInfo{}, fmt.Errorf("%w: %s is frozen (revive it, or kill it with mode=sigkill)", ErrConflict, id)
	}
	in.mu.Lock()
	p := in.proc
	in.mu.Unlock()
	if !in.external && (p == nil || p.exited()) && mode != ModeSIGKILL {
		return InstanceInfo{}, fmt.Errorf("%w: %s has no running process", ErrConflict, id)
	}

	switch mode {
	case ModeSIGKILL:
		l.setState(in, killed)
		l.events.add(Event{Type: EventKill, Instance: id, Mode: mode, PID: in.pid()})
		l.markDown(in, "kill")
		if in.external {
			if err := l.exitExternal(ctx, in); err != nil {
				l.log.Warn("external exit", "instance", id, "err", err)
			}
		} else if p != nil {
			l.killProcess(p)
		}
	case ModeFreeze:
		if err := signalGroup(p, syscall.SIGSTOP); err != nil {
			return InstanceInfo{}, err
		}
		l.setState(in, frozen)
		l.events.add(Event{Type: EventKill, Instance: id, Mode: mode, PID: p.pid})
	case ModeDrain:
		l.setState(in, draining)
		l.events.add(Event{Type: EventKill, Instance: id, Mode: mode, PID: in.pid()})
		l.markDown(in, "drain")
		if err := l.goTracked(func() { l.drain(in, p) }); err != nil {
			return InstanceInfo{}, err
		}
	}
	return in.info(), nil
}

// drain waits until in has no request in flight (or DrainTimeout), then
// stops it: SIGTERM for a child, /_admin/exit for an external instance.
func (l *LB) drain(in *instance, p *process) {
	deadline := time.NewTimer(l.cfg.DrainTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	reason := "idle"
wait:
	for in.inFlight.Load() > 0 {
		select {
		case <-tick.C:
		case <-deadline.C:
			reason = "drain timeout"
			break wait
		case <-l.ctx.Done():
			return // stopChildren takes over
		}
	}
	if in.external {
		if err := l.exitExternal(l.ctx, in); err != nil {
			l.log.Warn("external exit", "instance", in.id, "err", err)
		}
	} else {
		l.stopProcess(p)
	}
	in.op.Lock()
	l.setState(in, killed)
	in.op.Unlock()
	l.events.add(Event{Type: EventDrained, Instance: in.id, Mode: ModeDrain, Reason: reason})
}

// exitExternal asks an external instance to exit at once.
func (l *LB) exitExternal(ctx context.Context, in *instance) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	admin := in.endpoint().adminAddr
	if admin == "" {
		return fmt.Errorf("instance %s: %w", in.id, ErrNoAdmin)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+admin+"/_admin/exit", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+l.cfg.InstanceAdminToken)
	resp, err := l.health.Do(req)
	if err != nil {
		// The process may die before the answer is complete.
		return fmt.Errorf("POST /_admin/exit: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /_admin/exit: status %d", resp.StatusCode)
	}
	return nil
}

// Revive brings a killed instance back: a fresh process on the same
// addresses for a child (on fresh ones when those stay taken; waiting until
// it answers its health check), SIGCONT
// for a frozen one. Either way the instance re-enters rotation only after
// HealthRise successful checks (a frozen one that was never marked down
// simply stays in). An external instance is only taken back into health
// checking: whoever runs it must restart it.
func (l *LB) Revive(ctx context.Context, id string) (InstanceInfo, error) {
	in, ok := l.byID[id]
	if !ok {
		return InstanceInfo{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	in.op.Lock()
	defer in.op.Unlock()
	in.mu.Lock()
	p := in.proc
	in.mu.Unlock()
	switch in.state() {
	case draining:
		return InstanceInfo{}, fmt.Errorf("%w: %s is draining", ErrConflict, id)
	case frozen:
		if err := signalGroup(p, syscall.SIGCONT); err != nil {
			return InstanceInfo{}, err
		}
		l.setState(in, running)
		l.events.add(Event{Type: EventRevive, Instance: id, Mode: "sigcont", PID: p.pid})
		return in.info(), nil
	case running:
		if in.external || (p != nil && !p.exited()) {
			return InstanceInfo{}, fmt.Errorf("%w: %s is live", ErrConflict, id)
		}
	}
	if in.external {
		l.resetHealth(in)
		l.setState(in, running)
		l.events.add(Event{Type: EventRevive, Instance: id})
		return in.info(), nil
	}
	before := in.endpoint()
	np, err := l.respawn(ctx, in)
	if err != nil {
		return InstanceInfo{}, err
	}
	l.resetHealth(in)
	l.setState(in, running)
	reason := ""
	if in.endpoint() != before {
		reason = "on fresh ports (its own were taken)"
	}
	l.events.add(Event{Type: EventRevive, Instance: id, PID: np.pid, Reason: reason})
	return in.info(), nil
}

// respawn starts a fresh process on the instance's addresses, retrying
// briefly while they are taken, then on fresh ones (another process may
// have bound a port the child released).
func (l *LB) respawn(ctx context.Context, in *instance) (*process, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.StartupTimeout)
	defer cancel()
	ep := in.endpoint()
	var lastErr error
	for attempt := range reviveSameAddr + startAttempts {
		if attempt == reviveSameAddr {
			l.log.Warn("revive: ports still taken; moving the instance to fresh ones", "instance", in.id, "err", lastErr)
		}
		if attempt >= reviveSameAddr {
			fresh, err := l.freshEndpoint()
			if err != nil {
				return nil, err
			}
			ep = fresh
		}
		p, err := l.spawn(in, ep)
		if err != nil {
			return nil, err
		}
		lastErr = l.waitHealthy(ctx, ep.health, p, in.id)
		if lastErr == nil {
			return p, nil
		}
		l.killProcess(p)
		if ctx.Err() != nil {
			break
		}
		if attempt < reviveSameAddr-1 {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil, fmt.Errorf("revive %s: %w", in.id, lastErr)
}

func (l *LB) setState(in *instance, s procState) {
	in.mu.Lock()
	in.gen++
	in.admin.Store(int32(s))
	in.mu.Unlock()
}

func (l *LB) resetHealth(in *instance) {
	in.mu.Lock()
	in.gen++
	in.fails, in.oks = 0, 0
	in.mu.Unlock()
}
