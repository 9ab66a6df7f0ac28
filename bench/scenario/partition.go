package scenario

import (
	"context"

	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/report"
)

// RedisPartitionName names the scenario cutting a gateway off from Redis.
const RedisPartitionName = "redis-partition"

// Partitioner cuts a gateway off from Redis by the network and heals it
// (target.Deployment on a compose project: docker network disconnect).
type Partitioner interface {
	Cut(ctx context.Context, id string) error
	Heal(ctx context.Context, id string) error
}

// RedisPartition cuts the middle gateway off from Redis at 1/3 of a load
// phase, while Redis itself stays up for the others, and heals it at 2/3:
// the requests that gateway still receives fail (503) unless the lb stops
// sending them (its readiness turns 503 and the health checks take it out).
// It reports the requests by class while the cut lasted and the time to
// recover. It needs a Partitioner: a deployment of containers (--target
// with --target-compose).
type RedisPartition struct{}

// Name implements Scenario.
func (RedisPartition) Name() string { return RedisPartitionName }

// Run implements Scenario.
func (RedisPartition) Run(ctx context.Context, env *Env) (report.Scenario, error) {
	p := env.Partition
	if p == nil {
		return report.Scenario{Skipped: true, SkipReason: "needs gateways on their own network: run against a compose deployment (--target with --target-compose)"}, nil
	}
	victim, err := middleInstance(ctx, env.Gateways)
	if err != nil {
		return report.Scenario{}, err
	}
	inject := load.Hook{Type: "redis-cut", Do: func(ctx context.Context) (string, error) {
		env.Progress.Note("cutting %s off from Redis (network disconnect)", victim.ID)
		return victim.ID, p.Cut(ctx, victim.ID)
	}}
	heal := load.Hook{Type: "redis-heal", Do: func(ctx context.Context) (string, error) {
		env.Progress.Note("reconnecting %s to Redis", victim.ID)
		return victim.ID, p.Heal(ctx, victim.ID)
	}}
	s, pr, w, err := env.loadWithFault(ctx, RedisPartitionName, inject, heal)
	if err == nil {
		o := outageFindings(pr, s.Timeline, w)
		s.RedisPartition = &report.Partition{Instance: victim.ID, RedisOutage: *o}
	}
	return s, err
}
