package scenario

import (
	"context"

	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/report"
)

// RedisOutageName names the Redis outage scenario.
const RedisOutageName = "redis-outage"

// RedisOutage kills the harness's own Redis at 1/3 of a load phase and
// restarts it (empty) at 2/3, and reports how the requests fared while it
// was down and the time to recover. It is skipped when Redis is not the
// harness's to kill.
type RedisOutage struct{}

// Name implements Scenario.
func (RedisOutage) Name() string { return RedisOutageName }

// Run implements Scenario.
func (RedisOutage) Run(ctx context.Context, env *Env) (report.Scenario, error) {
	srv := env.Redis
	if srv == nil {
		return report.Scenario{Skipped: true, SkipReason: "Redis is external (REDIS_URL): the harness does not stop a Redis it does not own"}, nil
	}
	if srv.Embedded() {
		env.Progress.Note("warning: Redis is the embedded fallback; its outage behaves like a real one but timings differ")
	}
	inject := load.Hook{Type: "redis-stop", Do: func(ctx context.Context) (string, error) {
		env.Progress.Note("stopping Redis (SIGKILL)")
		return "", srv.Stop()
	}}
	heal := load.Hook{Type: "redis-start", Do: func(ctx context.Context) (string, error) {
		env.Progress.Note("restarting Redis (empty: no persistence)")
		return "", srv.Restart(ctx)
	}}
	s, pr, w, err := env.loadWithFault(ctx, RedisOutageName, inject, heal)
	if err == nil {
		s.RedisOutage = outageFindings(pr, s.Timeline, w)
	}
	// A restarted Redis has reset its command counters: no per-request figure.
	s.RedisCommandsPerRequest, s.RedisCommands = nil, nil
	return s, err
}

// outageFindings counts the requests while Redis was down by class.
func outageFindings(pr *load.PhaseResult, timeline []report.Second, w window) *report.RedisOutage {
	o := &report.RedisOutage{StopAtS: report.Round3(w.from.Seconds()), StartAtS: report.Round3(w.to.Seconds()),
		RecoveryS: report.Recovery(timeline, w.to.Seconds())}
	for _, rec := range pr.Records {
		if !w.contains(rec.At) {
			continue
		}
		o.DuringRequests++
		if rec.Class == load.ClassOK {
			o.DuringOK++
		}
		load.Count(&o.DuringErrors, rec.Class)
	}
	return o
}
