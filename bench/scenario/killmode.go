package scenario

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/authlab/authlab/lb"
)

// Kill modes of the failover scenario.
const (
	// KillAnnounced kills through the lb's admin API: the lb takes the
	// instance out of rotation before the SIGKILL, so no request reaches
	// the dead instance by construction (the old behaviour).
	KillAnnounced = "announced"
	// KillCrash SIGKILLs the gateway from outside the lb (started with
	// --ignore-exits): the lb learns of it only from failed requests and
	// health checks, as of a real crash.
	KillCrash = "crash"
	// KillFreeze SIGSTOPs the gateway from outside the lb for
	// FailoverConfig.FreezeFor, then SIGCONTs it: its sockets stay open
	// and nothing answers, so only health-check timeouts reveal it.
	KillFreeze = "freeze"
	// KillDrain is the lb's drain: no new requests, in-flight ones finish,
	// then the gateway is stopped.
	KillDrain = "drain"
)

// KillModes lists the kill modes, in the order a run of several takes them.
func KillModes() []string { return []string{KillAnnounced, KillCrash, KillFreeze, KillDrain} }

// DefaultKillMode is what failover does unless told: a crash, because an
// announced kill cannot show requests sent to a dead instance.
const DefaultKillMode = KillCrash

// DefaultFreezeFor is how long a freeze lasts unless told.
const DefaultFreezeFor = 5 * time.Second

// FailoverConfig is the failover scenario's knobs.
type FailoverConfig struct {
	// Modes are the kill modes to run, one load phase each (default
	// DefaultKillMode).
	Modes []string
	// Retry lists the lb retry settings each mode runs with (default
	// false: the lb's default).
	Retry []bool
	// FreezeFor is how long KillFreeze keeps the gateway stopped (default
	// DefaultFreezeFor).
	FreezeFor time.Duration
}

// Validate checks c and fills defaults.
func (c *FailoverConfig) Validate() error {
	if len(c.Modes) == 0 {
		c.Modes = []string{DefaultKillMode}
	}
	for _, m := range c.Modes {
		if !slices.Contains(KillModes(), m) {
			return fmt.Errorf("unknown kill mode %q (want some of %s)", m, strings.Join(KillModes(), ","))
		}
	}
	c.Modes = slices.Compact(slices.SortedFunc(slices.Values(c.Modes), func(a, b string) int {
		return slices.Index(KillModes(), a) - slices.Index(KillModes(), b)
	}))
	if len(c.Retry) == 0 {
		c.Retry = []bool{false}
	}
	if len(c.Retry) > 2 || (len(c.Retry) == 2 && c.Retry[0] == c.Retry[1]) {
		return fmt.Errorf("lb retry settings %v: want false, true or both once", c.Retry)
	}
	if c.FreezeFor < 0 {
		return fmt.Errorf("freeze-for %s < 0", c.FreezeFor)
	}
	c.FreezeFor = orDefault(c.FreezeFor, DefaultFreezeFor)
	return nil
}

// LBArgs are the lb flags the modes need: --ignore-exits for a crash or a
// freeze (an lb that reaps its own children would otherwise learn of a
// crash from the exit, an announcement in disguise).
func (c FailoverConfig) LBArgs() []string {
	if slices.Contains(c.Modes, KillCrash) || slices.Contains(c.Modes, KillFreeze) {
		return []string{"--ignore-exits"}
	}
	return nil
}

// ParseRetry parses --lb-retry: off, on or both.
func ParseRetry(s string) ([]bool, error) {
	switch s {
	case "off", "false", "":
		return []bool{false}, nil
	case "on", "true":
		return []bool{true}, nil
	case "both":
		return []bool{false, true}, nil
	}
	return nil, fmt.Errorf("lb retry %q: want off, on or both", s)
}

// ParseKillModes parses --kill-mode: a comma-separated list, or all.
func ParseKillModes(s string) []string {
	if s == "all" {
		return KillModes()
	}
	var out []string
	for _, m := range strings.Split(s, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// What the kill modes need of the Gateways beyond the admin kill; the
// topology has all of it.
type (
	// signaller signals a gateway's process from outside the lb.
	signaller interface {
		Signal(ctx context.Context, id string, sig syscall.Signal) error
	}
	// modeKiller kills through the lb's admin API in a given mode.
	modeKiller interface {
		KillMode(ctx context.Context, id, mode string) error
	}
	// eventSource reads the lb's event log.
	eventSource interface {
		Events(ctx context.Context, since uint64) ([]lb.Event, error)
	}
	// retrySwitch reads and switches the lb's retries.
	retrySwitch interface {
		Retry(ctx context.Context) (bool, error)
		SetRetry(ctx context.Context, on bool) error
	}
)

// errUnsupported: the Gateways cannot do what a kill mode needs.
var errUnsupported = errors.New("not supported by this deployment")

// newKill is mode's Kill over g.
func newKill(mode string, g Gateways, freezeFor time.Duration) (Kill, error) {
	switch mode {
	case KillAnnounced:
		return Announced{g}, nil
	case KillCrash, KillFreeze:
		s, ok := g.(signaller)
		if !ok {
			return nil, fmt.Errorf("kill mode %s: signalling a gateway's process: %w", mode, errUnsupported)
		}
		if mode == KillCrash {
			return Crash{Signals: s, Gateways: g}, nil
		}
		return Freeze{Signals: s, For: freezeFor}, nil
	case KillDrain:
		k, ok := g.(modeKiller)
		if !ok {
			return nil, fmt.Errorf("kill mode %s: the lb's drain: %w", mode, errUnsupported)
		}
		return Drain{Killer: k, Gateways: g}, nil
	}
	return nil, fmt.Errorf("unknown kill mode %q", mode)
}

// Crash SIGKILLs the gateway from outside the lb and revives it through
// the lb's admin API.
type Crash struct {
	Signals  signaller
	Gateways Gateways
}

// How implements Kill.
func (Crash) How() string { return "SIGKILL from outside the lb" }

// Down implements Kill.
func (c Crash) Down(ctx context.Context, inst lb.InstanceInfo) error {
	return c.Signals.Signal(ctx, inst.ID, syscall.SIGKILL)
}

// Up implements Kill.
func (c Crash) Up(ctx context.Context, inst lb.InstanceInfo) error {
	return c.Gateways.Revive(ctx, inst.ID)
}

// Freeze SIGSTOPs the gateway from outside the lb; Up SIGCONTs it.
type Freeze struct {
	Signals signaller
	// For is how long the scenario leaves it stopped.
	For time.Duration
}

// How implements Kill.
func (f Freeze) How() string { return fmt.Sprintf("SIGSTOP from outside the lb for %s", f.For) }

// Down implements Kill.
func (f Freeze) Down(ctx context.Context, inst lb.InstanceInfo) error {
	return f.Signals.Signal(ctx, inst.ID, syscall.SIGSTOP)
}

// Up implements Kill.
func (f Freeze) Up(ctx context.Context, inst lb.InstanceInfo) error {
	return f.Signals.Signal(ctx, inst.ID, syscall.SIGCONT)
}

// Drain drains the gateway through the lb's admin API; Up waits until the
// drain has stopped it, then revives it.
type Drain struct {
	Killer   modeKiller
	Gateways Gateways
}

// How implements Kill.
func (Drain) How() string { return "the lb's drain" }

// Down implements Kill.
func (d Drain) Down(ctx context.Context, inst lb.InstanceInfo) error {
	return d.Killer.KillMode(ctx, inst.ID, lb.ModeDrain)
}

// Up implements Kill.
func (d Drain) Up(ctx context.Context, inst lb.InstanceInfo) error {
	if err := WaitInstance(ctx, d.Gateways, inst.ID, 30*time.Second, func(in lb.InstanceInfo) bool {
		return in.State != lb.StateDraining
	}); err != nil {
		return fmt.Errorf("drain of %s did not finish: %w", inst.ID, err)
	}
	return d.Gateways.Revive(ctx, inst.ID)
}

// WaitInstance polls g until instance id satisfies ok, for at most limit.
func WaitInstance(ctx context.Context, g Gateways, id string, limit time.Duration, ok func(lb.InstanceInfo) bool) error {
	return waitInstances(ctx, g, limit, func(insts []lb.InstanceInfo) bool {
		i := slices.IndexFunc(insts, func(in lb.InstanceInfo) bool { return in.ID == id })
		return i >= 0 && ok(insts[i])
	})
}

// waitInstances polls g every 50 ms until ok holds of its instances, for
// at most limit.
func waitInstances(ctx context.Context, g Gateways, limit time.Duration, ok func([]lb.InstanceInfo) bool) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		insts, err := g.Instances(ctx)
		if err == nil && ok(insts) {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}
