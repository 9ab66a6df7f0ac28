package lb

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/authlab/authlab/internal/proc"
)

// healthLoop checks in every HealthInterval until the lb stops. Killed and
// draining instances are not checked; frozen ones are (that is how a freeze
// is detected: by timeout).
func (l *LB) healthLoop(in *instance) {
	t := time.NewTicker(l.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		s := in.state()
		if s != running && s != frozen {
			continue
		}
		in.mu.Lock()
		gen := in.gen
		in.mu.Unlock()
		// Read the endpoint each time: a revive may have moved the child.
		err := l.check(l.ctx, in.endpoint().health, in.childID())
		if l.ctx.Err() != nil {
			return
		}
		l.observe(in, gen, err == nil, errString(err))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// observe records one health check result taken at generation gen.
func (l *LB) observe(in *instance, gen uint64, ok bool, why string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.gen != gen {
		return // killed or revived meanwhile
	}
	if ok {
		in.fails = 0
		in.oks++
		if in.oks >= l.cfg.HealthRise && in.healthy.CompareAndSwap(false, true) {
			l.events.add(Event{Type: EventUp, Instance: in.id, Reason: "health check"})
			l.log.Info("instance up", "instance", in.id)
		}
		return
	}
	in.oks = 0
	in.fails++
	if in.fails >= l.cfg.HealthFall && in.healthy.CompareAndSwap(true, false) {
		l.events.add(Event{Type: EventDown, Instance: in.id, Reason: "health check: " + why})
		l.log.Warn("instance down", "instance", in.id, "reason", why)
		l.abortInFlight(in)
	}
}

// markDown takes in out of rotation at once; attrs go to its log line
// (the request id of a passive detection).
func (l *LB) markDown(in *instance, reason string, attrs ...any) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.oks = 0
	if in.fails < l.cfg.HealthFall {
		in.fails = l.cfg.HealthFall
	}
	if in.healthy.CompareAndSwap(true, false) {
		l.events.add(Event{Type: EventDown, Instance: in.id, Reason: reason})
		l.log.Warn("instance down", append([]any{"instance", in.id, "reason", reason}, attrs...)...)
		if in.state() != draining { // a drain waits for them
			l.abortInFlight(in)
		}
	}
}

// abortInFlight cuts short the requests in flight to in (AbortOnDown).
func (l *LB) abortInFlight(in *instance) {
	if in.aborts == nil {
		return
	}
	if n := in.aborts.abortAll(); n > 0 {
		l.log.Warn("requests in flight to a down instance cut short", "instance", in.id, "requests", n)
	}
}

// waitExternal waits until an external instance answers its health check
// and, when it has an admin address, the admin plane's /healthz.
func (l *LB) waitExternal(ctx context.Context, ep *endpoint) error {
	if err := l.waitHealthy(ctx, ep.health); err != nil {
		return err
	}
	if ep.adminAddr == "" {
		return nil
	}
	if err := l.waitHealthy(ctx, "http://"+ep.adminAddr+"/healthz"); err != nil {
		return fmt.Errorf("admin address: %w", err)
	}
	return nil
}

// waitHealthy polls health URL u until it answers 200 or ctx ends.
func (l *LB) waitHealthy(ctx context.Context, u string) error {
	t := time.NewTicker(proc.DefaultPollInterval)
	defer t.Stop()
	for {
		err := l.check(ctx, u, "")
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last error: %v)", u, ctx.Err(), err)
		case <-t.C:
		}
	}
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
