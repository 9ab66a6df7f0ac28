package lb

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"time"
)

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
	if err := in.canKill(mode); err != nil {
		return InstanceInfo{}, err
	}
	in.op.Lock()
	defer in.op.Unlock()
	if err := in.killConflict(mode); err != nil {
		return InstanceInfo{}, err
	}
	c := in.child()
	switch mode {
	case ModeSIGKILL:
		l.setState(in, killed)
		l.events.add(Event{Type: EventKill, Instance: id, Mode: mode, PID: in.pid()})
		l.markDown(in, "kill")
		if in.external {
			if err := l.exitExternal(ctx, in); err != nil {
				l.log.Warn("external exit", "instance", id, "err", err)
			}
		} else if c != nil {
			c.kill()
		}
	case ModeFreeze:
		if err := c.Signal(syscall.SIGSTOP); err != nil {
			return InstanceInfo{}, err
		}
		l.setState(in, frozen)
		l.events.add(Event{Type: EventKill, Instance: id, Mode: mode, PID: c.PID()})
	case ModeDrain:
		l.setState(in, draining)
		l.events.add(Event{Type: EventKill, Instance: id, Mode: mode, PID: in.pid()})
		l.markDown(in, "drain")
		if err := l.goTracked(func() { l.drain(in, c) }); err != nil {
			return InstanceInfo{}, err
		}
	}
	return in.info(), nil
}

// canKill reports whether mode exists and suits the kind of instance.
func (in *instance) canKill(mode string) error {
	switch mode {
	case ModeSIGKILL, ModeDrain, ModeFreeze:
	default:
		return fmt.Errorf("%w %q (want %s, %s or %s)", ErrBadMode, mode, ModeSIGKILL, ModeDrain, ModeFreeze)
	}
	if mode == ModeFreeze && in.external {
		return fmt.Errorf("%w: freeze needs a child process; %s is external", ErrBadMode, in.id)
	}
	if in.external && in.endpoint().adminAddr == "" {
		return fmt.Errorf("%w: %s was given without one, so it cannot be stopped (give it as --instance-addr DATA@ADMIN)", ErrNoAdmin, in.id)
	}
	return nil
}

// killConflict reports whether killing in with mode conflicts with its
// state. The caller holds in.op.
func (in *instance) killConflict(mode string) error {
	switch st := in.state(); {
	case st == killed:
		return fmt.Errorf("%w: %s is already killed", ErrConflict, in.id)
	case st == draining:
		return fmt.Errorf("%w: %s is draining", ErrConflict, in.id)
	case st == frozen && mode != ModeSIGKILL:
		return fmt.Errorf("%w: %s is frozen (revive it, or kill it with mode=sigkill)", ErrConflict, in.id)
	}
	if c := in.child(); !in.external && (c == nil || c.Exited()) && mode != ModeSIGKILL {
		return fmt.Errorf("%w: %s has no running process", ErrConflict, in.id)
	}
	return nil
}

// drain waits until in has no request in flight (or DrainTimeout), then
// stops it: SIGTERM for a child, /_admin/exit for an external instance.
func (l *LB) drain(in *instance, c *child) {
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
		l.stopChild(in, c)
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
	c := in.child()
	switch in.state() {
	case draining:
		return InstanceInfo{}, fmt.Errorf("%w: %s is draining", ErrConflict, id)
	case frozen:
		if err := c.Signal(syscall.SIGCONT); err != nil {
			return InstanceInfo{}, err
		}
		l.setState(in, running)
		l.events.add(Event{Type: EventRevive, Instance: id, Mode: "sigcont", PID: c.PID()})
		return in.info(), nil
	case running:
		if in.external || (c != nil && !c.Exited()) {
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
	nc, err := l.launch(ctx, in, reviveSameAddr)
	if err != nil {
		return InstanceInfo{}, fmt.Errorf("revive %s: %w", id, err)
	}
	l.resetHealth(in)
	l.setState(in, running)
	reason := ""
	if in.endpoint() != before {
		reason = "on fresh ports (its own were taken)"
	}
	l.events.add(Event{Type: EventRevive, Instance: id, PID: nc.PID(), Reason: reason})
	return in.info(), nil
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
