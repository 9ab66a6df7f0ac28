package topology

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"syscall"

	"github.com/authlab/authlab/lb"
)

// What the failover scenario's kill modes need beyond the lb's admin kill:
// signals sent to a gateway from outside the lb (a crash, a freeze), the
// lb's event log, its retry switch.

// Events returns the lb's events with a sequence number above since.
func (a *LBAdmin) Events(ctx context.Context, since uint64) ([]lb.Event, error) {
	var out []lb.Event
	if err := a.do(ctx, http.MethodGet, "/_lb/events?since="+strconv.FormatUint(since, 10), &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Retry reports whether the lb retries failed requests now.
func (a *LBAdmin) Retry(ctx context.Context) (bool, error) {
	var v struct {
		Retry bool `json:"retry"`
	}
	if err := a.do(ctx, http.MethodGet, "/_lb/retry", &v); err != nil {
		return false, err
	}
	return v.Retry, nil
}

// SetRetry switches the lb's retries on or off.
func (a *LBAdmin) SetRetry(ctx context.Context, on bool) error {
	return a.do(ctx, http.MethodPost, "/_lb/retry?enabled="+strconv.FormatBool(on), nil)
}

// Events returns the lb's events with a sequence number above since.
func (t *Topology) Events(ctx context.Context, since uint64) ([]lb.Event, error) {
	return t.admin.Events(ctx, since)
}

// Retry reports whether the lb retries failed requests now.
func (t *Topology) Retry(ctx context.Context) (bool, error) { return t.admin.Retry(ctx) }

// SetRetry switches the lb's retries on or off.
func (t *Topology) SetRetry(ctx context.Context, on bool) error { return t.admin.SetRetry(ctx, on) }

// KillMode takes gateway id down through the lb admin API in mode
// (lb.ModeSIGKILL, lb.ModeDrain, lb.ModeFreeze): the lb knows.
func (t *Topology) KillMode(ctx context.Context, id, mode string) error {
	return t.admin.Kill(ctx, id, mode)
}

// Signal sends sig to gateway id's process from outside the lb (SIGKILL
// for a crash, SIGSTOP/SIGCONT for a freeze): the lb is not told. The
// process is the one the lb lists now, and must be one of the gateways
// this topology's lb reported.
func (t *Topology) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	insts, err := t.Instances(ctx)
	if err != nil {
		return err
	}
	for _, in := range insts {
		if in.ID != id {
			continue
		}
		if in.PID <= 0 {
			return fmt.Errorf("gateway %s has no running process", id)
		}
		if err := syscall.Kill(in.PID, sig); err != nil {
			return fmt.Errorf("signal %v to gateway %s (pid %d): %w", sig, id, in.PID, err)
		}
		return nil
	}
	return fmt.Errorf("no gateway %s", id)
}
