package scenario

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/lb"
)

// FailoverName names the failover scenario.
const FailoverName = "failover"

// Failover kills one gateway at 1/3 of a load phase and brings it back at
// 2/3, and reports the sessions lost (for a sticky lb: the users pinned to
// the killed instance against those who lost their session), the errors
// and the requests sent to the dead instance in between, and the time to
// recover.
type Failover struct {
	// Kill is how the gateway goes down and comes back (default
	// Announced).
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

// Run implements Scenario.
func (f Failover) Run(ctx context.Context, env *Env) (report.Scenario, error) {
	victim, err := middleInstance(ctx, env.Gateways)
	if err != nil {
		return report.Scenario{}, err
	}
	kill := f.Kill
	if kill == nil {
		kill = env.Kill
	}
	if kill == nil {
		kill = Announced{env.Gateways}
	}
	var pinned []string // written by the kill hook, read once the phase is over
	inject := load.Hook{Type: "kill", Do: func(ctx context.Context) (string, error) {
		pinned = env.Driver.PinnedTo(victim.ID)
		env.Progress.Note("killing %s (%s); %d users were last served by it", victim.ID, kill.How(), len(pinned))
		return victim.ID, kill.Down(ctx, victim)
	}}
	heal := load.Hook{Type: "revive", Do: func(ctx context.Context) (string, error) {
		env.Progress.Note("reviving %s", victim.ID)
		return victim.ID, kill.Up(ctx, victim)
	}}
	s, pr, w, err := env.loadWithFault(ctx, FailoverName, inject, heal)
	if err != nil {
		return s, err
	}
	s.Failover = failoverFindings(pr, s.Timeline, w, victim.ID, pinned)
	return s, nil
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

// failoverFindings compares the users pinned to the victim with those who
// lost their session from the kill on, and counts the errors and the
// requests the dead instance got while it was down.
func failoverFindings(pr *load.PhaseResult, timeline []report.Second, w window, victim string, pinned []string) *report.Failover {
	lost := pr.LostUsers(w.from)
	f := &report.Failover{
		KilledInstance: victim, KillAtS: report.Round3(w.from.Seconds()), ReviveAtS: report.Round3(w.to.Seconds()),
		PinnedUsers: nonNil(pinned), LostUsers: nonNil(lost),
		RecoveryS: report.Recovery(timeline, w.from.Seconds()),
	}
	for _, u := range pinned {
		if slices.Contains(lost, u) {
			f.PinnedAndLost++
		} else {
			f.PinnedNotLost++
		}
	}
	f.LostNotPinned = len(lost) - f.PinnedAndLost
	for _, rec := range pr.Records {
		if !w.contains(rec.At) {
			continue
		}
		if rec.Class != load.ClassOK {
			f.WindowErrors++
		}
		dead := rec.Class == load.ClassTransport || rec.Code == http.StatusBadGateway || rec.Code == http.StatusGatewayTimeout
		if dead && (rec.Instance == "" || rec.Instance == victim) {
			f.DeadInstanceRequests++
		}
	}
	return f
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
