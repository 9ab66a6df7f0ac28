package scenario

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/lb"
)

// FailoverName names the failover scenario.
const FailoverName = "failover"

// Failover takes one gateway down at 1/3 of a load phase and brings it
// back at 2/3 (a freeze: after FreezeFor), once per configured kill mode
// and lb retry setting (Config.Failover), and reports for each: when the
// lb noticed (detection), the requests sent to the dead or frozen instance,
// the failed requests, the sessions lost (for a sticky lb: the users
// pinned to the killed instance against those who lost their session) and
// the time to recover.
type Failover struct {
	// Kill, when set, is the one way the gateway goes down and comes back
	// (a test's), instead of the configured modes.
	Kill Kill
}

// Kill is one way of taking a gateway down and bringing it back.
type Kill interface {
	// How says what Down does, for the progress line.
	How() string
	Down(ctx context.Context, inst lb.InstanceInfo) error
	Up(ctx context.Context, inst lb.InstanceInfo) error
}

// Announced kills through the lb's admin API: SIGKILL, the lb marks the
// instance down first (so no request is sent to it afterwards); it
// revives the same way.
type Announced struct{ Gateways Gateways }

// How implements Kill.
func (Announced) How() string { return "SIGKILL via the lb admin API" }

// Down implements Kill.
func (a Announced) Down(ctx context.Context, inst lb.InstanceInfo) error {
	return a.Gateways.Kill(ctx, inst.ID)
}

// Up implements Kill.
func (a Announced) Up(ctx context.Context, inst lb.InstanceInfo) error {
	return a.Gateways.Revive(ctx, inst.ID)
}

// Name implements Scenario.
func (Failover) Name() string { return FailoverName }

// variant is one load phase of the failover scenario.
type variant struct {
	mode  string
	kill  Kill
	retry bool
}

// name is the variant's scenario name in the report.
func (v variant) name() string {
	r := "noretry"
	if v.retry {
		r = "retry"
	}
	return fmt.Sprintf("%s-%s-%s", FailoverName, v.mode, r)
}

// Run implements Scenario. The first variant is the result; the others
// are in its Failover.Variants.
func (f Failover) Run(ctx context.Context, env *Env) (report.Scenario, error) {
	cfg := env.Config.Failover
	if err := cfg.Validate(); err != nil {
		return report.Scenario{}, err
	}
	vs, err := f.variants(env, cfg)
	if err != nil {
		return report.Scenario{}, err
	}
	rs, _ := env.Gateways.(retrySwitch)
	if rs != nil {
		was, err := rs.Retry(ctx)
		if err != nil {
			// Without the setting to put back, the lb's retry is not touched.
			return report.Scenario{}, fmt.Errorf("read the lb's retry setting: %w", err)
		}
		defer func() { _ = rs.SetRetry(context.WithoutCancel(ctx), was) }()
	}
	var results []report.Scenario
	for i, v := range vs {
		var warn string
		if i > 0 {
			// The previous variant's victim must be back in rotation.
			if err := waitInstances(ctx, env.Gateways, 30*time.Second, allUp); err != nil {
				warn = fmt.Sprintf("not every instance was back up before this phase (%v): its numbers include the previous kill's aftermath", err)
			}
		}
		if rs != nil {
			if err := rs.SetRetry(ctx, v.retry); err != nil {
				return report.Scenario{}, fmt.Errorf("switch lb retry: %w", err)
			}
		} else if v.retry {
			return report.Scenario{}, fmt.Errorf("lb retry: switching it %w", errUnsupported)
		}
		s, err := f.runVariant(ctx, env, v, cfg.FreezeFor)
		if warn != "" {
			s.Warnings = append(s.Warnings, warn)
		}
		if err != nil {
			return s, err
		}
		results = append(results, s)
	}
	first := results[0]
	first.Name = FailoverName
	first.Failover.Variants = results[1:]
	return first, nil
}

// variants are the phases to run: every mode with every retry setting.
func (f Failover) variants(env *Env, cfg FailoverConfig) ([]variant, error) {
	if f.Kill != nil {
		return []variant{{mode: "custom", kill: f.Kill, retry: cfg.Retry[0]}}, nil
	}
	if env.Kill != nil {
		// A deployment the harness did not start: its own way of killing,
		// named as the mode it amounts to (docker kill: a crash; the lb's
		// admin kill: announced), with every retry setting asked for.
		mode := KillCrash
		if m, ok := env.Kill.(interface{ Mode() string }); ok {
			mode = m.Mode()
		}
		vs := make([]variant, 0, len(cfg.Retry))
		for _, r := range cfg.Retry {
			vs = append(vs, variant{mode: mode, kill: env.Kill, retry: r})
		}
		return vs, nil
	}
	var vs []variant
	for _, mode := range cfg.Modes {
		k, err := newKill(mode, env.Gateways, cfg.FreezeFor)
		if err != nil {
			return nil, err
		}
		for _, r := range cfg.Retry {
			vs = append(vs, variant{mode: mode, kill: k, retry: r})
		}
	}
	return vs, nil
}

func allUp(insts []lb.InstanceInfo) bool {
	return len(insts) > 0 && !slices.ContainsFunc(insts, func(in lb.InstanceInfo) bool { return in.State != lb.StateUp })
}

// runVariant runs one load phase with v's kill at 1/3 and its revive at
// 2/3 (a freeze: freezeFor after the kill).
func (f Failover) runVariant(ctx context.Context, env *Env, v variant, freezeFor time.Duration) (report.Scenario, error) {
	victim, err := middleInstance(ctx, env.Gateways)
	if err != nil {
		return report.Scenario{}, err
	}
	events, _ := env.Gateways.(eventSource)
	since := lastEventSeq(ctx, events)
	obs := observation{Victim: victim.ID, Mode: v.mode, Retry: v.retry}
	if v.mode == KillFreeze {
		obs.FreezeFor = freezeFor
	}
	// Written by the hooks, read once the phase is over.
	var killed, revived bool
	inject := load.Hook{Type: "kill", Do: func(ctx context.Context) (string, error) {
		obs.Pinned = env.Driver.PinnedTo(victim.ID)
		obs.FailedAtKill = failedTries(ctx, env.Gateways, victim.ID)
		env.Progress.Note("%s: taking %s down (%s, lb retry %v); %d users were last served by it",
			v.name(), victim.ID, v.kill.How(), v.retry, len(obs.Pinned))
		obs.KillWall = time.Now()
		killed = true
		return victim.ID, v.kill.Down(ctx, victim)
	}}
	heal := load.Hook{Type: "revive", Do: func(ctx context.Context) (string, error) {
		obs.FailedAtRevive = failedTries(ctx, env.Gateways, victim.ID)
		env.Progress.Note("%s: bringing %s back", v.name(), victim.ID)
		err := v.kill.Up(ctx, victim)
		revived = err == nil // else tried again once the phase is over
		return victim.ID, err
	}}
	dur := env.Config.Duration
	inject.At, heal.At = dur/3, 2*dur/3
	if v.mode == KillFreeze {
		heal.At = inject.At + freezeFor
	}
	s, pr, err := env.Load(ctx, v.name(), env.Config.Rate, dur, inject, heal)
	if killed && !revived {
		// The phase ended first (or failed): leave the gateway running.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		obs.FailedAtRevive = failedTries(uctx, env.Gateways, victim.ID)
		err = errors.Join(err, v.kill.Up(uctx, victim))
		cancel()
	}
	if err != nil {
		return s, err
	}
	if events != nil {
		obs.Events, _ = events.Events(ctx, since)
	}
	// The window opens when the kill was made, not when its hook fired
	// (reading the pinned users and the lb's counters came first): no
	// request answered before it can have seen the instance gone.
	from, _ := pr.EventAt(inject.Type)
	if killed {
		from = obs.KillWall.Sub(pr.Start)
	}
	to, ok := pr.EventAt(heal.Type)
	if !ok {
		to = pr.Duration + time.Hour
	}
	obs.Window = window{from, to}
	s.Name = v.name()
	s.Failover = classifyFailover(pr, s.Timeline, obs)
	return s, nil
}

// lastEventSeq is the sequence number of the lb's latest event (0 when it
// has none or cannot say).
func lastEventSeq(ctx context.Context, src eventSource) uint64 {
	if src == nil {
		return 0
	}
	evs, err := src.Events(ctx, 0)
	if err != nil || len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

// failedTries reads the lb's count of failed tries at instance id (nil
// when it cannot).
func failedTries(ctx context.Context, g Gateways, id string) *uint64 {
	insts, err := g.Instances(ctx)
	if err != nil {
		return nil
	}
	for _, in := range insts {
		if in.ID == id {
			n := in.Failed
			return &n
		}
	}
	return nil
}

// middleInstance is the instance failover kills: the middle one the lb
// lists.
func middleInstance(ctx context.Context, g Gateways) (lb.InstanceInfo, error) {
	insts, err := g.Instances(ctx)
	if err != nil {
		return lb.InstanceInfo{}, err
	}
	if len(insts) == 0 {
		return lb.InstanceInfo{}, errors.New("the lb lists no instance")
	}
	return insts[len(insts)/2], nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
