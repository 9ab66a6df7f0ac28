package scenario

import (
	"context"
	"sync"
	"time"

	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/measure"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/lb"
)

// Gateways is the pool of gateway instances under test, behind its lb:
// topology.Topology is one; a pool of a larger topology, or of a
// deployment the harness did not start, is another.
type Gateways interface {
	// Instances lists the gateways as the lb's admin API does.
	Instances(ctx context.Context) ([]lb.InstanceInfo, error)
	// Kill SIGKILLs gateway id through the lb (which marks it down first).
	Kill(ctx context.Context, id string) error
	// Revive starts gateway id again through the lb.
	Revive(ctx context.Context, id string) error
}

// OwnedRedis is a Redis the harness started and may stop
// (redisserver.Server).
type OwnedRedis interface {
	// Stop kills it (no save: it restarts empty).
	Stop() error
	// Restart starts it again on the same address.
	Restart(ctx context.Context) error
	// Embedded reports whether it is the embedded fallback.
	Embedded() bool
}

// Env is what every scenario is given.
type Env struct {
	Config Config
	// Driver sends the load; its users are logged in.
	Driver   *load.Driver
	Gateways Gateways
	// RedisURL is the Redis the gateways use; its command counts are read
	// around every load phase.
	RedisURL string
	// Redis is that Redis when the harness owns it, else nil.
	Redis OwnedRedis
	// Replicated is that Redis when it is a Cluster or Sentinel group the
	// harness started, else nil.
	Replicated ReplicatedRedis
	// RedisDeployment names it (cluster, sentinel) for the report.
	RedisDeployment string
	// Kill, when set, is the only way the failover scenario takes a gateway
	// down (a deployment the harness did not start: docker kill or the lb's
	// admin kill), in place of the --kill-mode modes.
	Kill Kill
	// Partition cuts a gateway off from Redis (nil: redis-partition is
	// skipped).
	Partition Partitioner
	// RedisNet changes the network between the gateways and Redis (nil:
	// redis-rtt and redis-hang are skipped).
	RedisNet RedisNet
	// Progress receives what the run is doing (nil: nothing is printed).
	Progress *load.Progress
	// AdminUser and AdminPassword are the deployment's administrator
	// (roles admin and user), when known: the mixed scenario sends the
	// admin path as it ("" : that route is left out).
	AdminUser, AdminPassword string
}

// GatewayPIDs lists the process ids of the gateways the lb started.
func (e *Env) GatewayPIDs(ctx context.Context) ([]int, error) {
	insts, err := e.Gateways.Instances(ctx)
	if err != nil {
		return nil, err
	}
	return measure.PIDs(insts), nil
}

// Load runs one constant-rate phase with hooks and measures everything
// around it: Redis commands, gateway CPU and memory. It returns the load
// part of the scenario's report and the phase's records.
func (e *Env) Load(ctx context.Context, name string, rate float64, dur time.Duration, hooks ...load.Hook) (report.Scenario, *load.PhaseResult, error) {
	return e.LoadPhase(ctx, load.Phase{Name: name, Rate: rate, Duration: dur, Hooks: hooks})
}

// LoadPhase is Load for a phase with settings of its own (a traffic mix,
// a refresh-ahead margin).
func (e *Env) LoadPhase(ctx context.Context, p load.Phase) (report.Scenario, *load.PhaseResult, error) {
	redis := measure.RedisCounters{URL: e.RedisURL}
	cmdsBefore, cmdErr := redis.Commands(ctx)
	sampler := measure.NewSampler(e.GatewayPIDs)
	stopWatching := e.watch(ctx, p.Name, p.Duration, sampler)
	pr, err := e.Driver.Run(ctx, p)
	sampler.Sample(ctx)
	stopWatching()
	if err != nil {
		return report.Scenario{Name: p.Name}, pr, err
	}
	s := pr.Summary()
	s.Traffic = load.Traffic(pr.Records, e.Driver.Users(), e.Driver.Skew())
	s.Gateway = gatewayCost(sampler, s.Requests)
	if cmdsAfter, err := redis.Commands(ctx); cmdErr == nil && err == nil && s.Requests > 0 {
		delta, total := measure.CommandDelta(cmdsBefore, cmdsAfter)
		s.RedisCommands = delta
		s.RedisCommandsPerRequest = report.Float(report.Round3(float64(total) / float64(s.Requests)))
	}
	return s, pr, nil
}

// watch samples the gateways and prints the progress line until the
// returned function is called.
func (e *Env) watch(ctx context.Context, name string, dur time.Duration, sampler *measure.Sampler) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); sampler.Run(ctx, 500*time.Millisecond) }()
	go func() { defer wg.Done(); e.Progress.Follow(ctx, name, dur, e.Driver) }()
	return func() { cancel(); wg.Wait() }
}

// gatewayCost is the gateways' CPU and peak memory over a phase.
func gatewayCost(sampler *measure.Sampler, requests int) report.Gateway {
	cpu, peak := sampler.Result()
	g := report.Gateway{CPUSeconds: report.Round3(cpu.Seconds()), PeakRSSBytes: peak}
	if requests > 0 {
		g.CPUPerRequestUs = report.Round3(float64(cpu.Microseconds()) / float64(requests))
	}
	return g
}

// window is when a fault was in effect within a phase: [from, to).
type window struct{ from, to time.Duration }

func (w window) contains(at time.Duration) bool { return at >= w.from && at < w.to }

// loadWithFault runs a load phase of the configured rate and duration with
// a fault injected at 1/3 and healed at 2/3, and returns when the fault
// was in effect (until the end of the phase, and beyond, when the heal
// never happened).
func (e *Env) loadWithFault(ctx context.Context, name string, inject, heal load.Hook) (report.Scenario, *load.PhaseResult, window, error) {
	dur := e.Config.Duration
	inject.At, heal.At = dur/3, 2*dur/3
	s, pr, err := e.Load(ctx, name, e.Config.Rate, dur, inject, heal)
	if err != nil {
		return s, pr, window{}, err
	}
	from, _ := pr.EventAt(inject.Type)
	to, ok := pr.EventAt(heal.Type)
	if !ok {
		to = pr.Duration + time.Hour
	}
	return s, pr, window{from, to}, nil
}
