// Package scenario holds the harness's scenarios, one file each, behind
// one small interface, and the runner that sequences them. A scenario gets
// an Env (the configuration, the system under test, the load driver, the
// progress line) and returns its part of the report; Env.Load runs one
// constant-rate load phase and measures everything around it (Redis
// commands, gateway CPU and memory).
//
// Adding a scenario: a file with a type implementing Scenario, and one
// line in All.
package scenario

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/report"
)

// Scenario is one measurement of a run.
type Scenario interface {
	// Name is how --scenario and the report call it.
	Name() string
	// Run measures; a scenario that does not apply returns a result with
	// Skipped set and the reason, not an error.
	Run(ctx context.Context, env *Env) (report.Scenario, error)
}

// All returns every scenario in the order a run sequences them.
func All() []Scenario {
	return []Scenario{Steady{}, Cost{}, Failover{}, RedisOutage{}, RedisFailover{}, RedisPartition{}, RedisRTT{}, RedisHang{}, Revocation{}, Mixed{}, Capacity{}}
}

// Names returns the names of ss.
func Names(ss []Scenario) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name()
	}
	return out
}

// DefaultNames is what a run measures unless told otherwise.
func DefaultNames() []string { return []string{SteadyName, FailoverName, RevocationName} }

// Select returns the scenarios named, each once, in the order of All.
func Select(names []string) ([]Scenario, error) {
	all := All()
	known := Names(all)
	for _, n := range names {
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("unknown scenario %q (want some of %s)", n, strings.Join(known, ","))
		}
	}
	return slices.DeleteFunc(all, func(s Scenario) bool { return !slices.Contains(names, s.Name()) }), nil
}

// MaxRate bounds Config.Rate.
const MaxRate = 100000

// Config is what the scenarios read: the load's shape and each scenario's
// knobs.
type Config struct {
	// Strategy under test.
	Strategy string
	// Users is the number of users logged in.
	Users int
	// Rate (requests per second) and Duration of each load phase.
	Rate     float64
	Duration time.Duration
	// Revocation: users logged out (default min(20, Users/10), at least
	// 1), and how long each instance is polled (default 10 s).
	RevocationSample  int
	RevocationTimeout time.Duration
	// RevocationSpread, when > 0, measures revocation at spread token
	// ages instead of right after the load: each sampled user logs in
	// afresh just after a whole second of the clock and logs out after
	// its own delay, spread evenly over [0, RevocationSpread) (see
	// MeasureRevocationSpread). Set it to a token's lifetime to see the
	// lag a logout at any moment of that lifetime has.
	RevocationSpread time.Duration
	// Capacity: the p99 bound (default 50 ms), the length of a step
	// (default 5 s), and the time budget (default 60 s).
	CapacityP99    time.Duration
	CapacityStep   time.Duration
	CapacityBudget time.Duration
	// Cost: the rates measured (default Rate and 2×Rate), and the length
	// of the idle window and of each load window (default min(Duration,
	// 10 s)).
	CostRates  []float64
	CostWindow time.Duration
	// Failover: the kill modes, lb retry settings and freeze length.
	Failover FailoverConfig
	// RedisRTTSteps: the round trips redis-rtt adds (default
	// DefaultRedisRTTSteps).
	RedisRTTSteps []time.Duration
	// Mixed: the share of requests that are a logout-then-login cycle
	// (default DefaultMixedLogoutShare; negative: none), and the
	// refresh-ahead margin of refreshable strategies (default
	// DefaultMixedRefreshAhead).
	MixedLogoutShare  float64
	MixedRefreshAhead time.Duration
}

// Validate checks c and fills defaults.
func (c *Config) Validate() error {
	if !catalog.Known(c.Strategy) {
		return fmt.Errorf("unknown strategy %q (want one of %s)", c.Strategy, strings.Join(catalog.Strategies(), ", "))
	}
	if c.Rate <= 0 || c.Rate > MaxRate {
		return fmt.Errorf("rate must be in (0, %d], got %v", MaxRate, c.Rate)
	}
	if c.Duration < time.Second {
		return fmt.Errorf("duration must be at least 1s, got %s", c.Duration)
	}
	if c.Users < 1 || c.Users > load.MaxUsers {
		return fmt.Errorf("users must be 1..%d, got %d", load.MaxUsers, c.Users)
	}
	if c.RevocationSample <= 0 {
		c.RevocationSample = min(20, max(1, c.Users/10))
	}
	c.RevocationSample = min(c.RevocationSample, c.Users)
	c.RevocationTimeout = orDefault(c.RevocationTimeout, 10*time.Second)
	if c.RevocationSpread < 0 {
		return fmt.Errorf("revocation spread must not be negative, got %s", c.RevocationSpread)
	}
	c.CapacityP99 = orDefault(c.CapacityP99, 50*time.Millisecond)
	c.CapacityStep = orDefault(c.CapacityStep, 5*time.Second)
	c.CapacityBudget = orDefault(c.CapacityBudget, 60*time.Second)
	c.CostWindow = orDefault(c.CostWindow, defaultCostWindow(c.Duration))
	rates, err := validateCostRates(c.CostRates, c.Rate)
	if err != nil {
		return err
	}
	c.CostRates = rates
	if err := c.Failover.Validate(); err != nil {
		return err
	}
	return c.validateMixed()
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// RunAll runs ss in order and returns their results. It stops at the first
// error and returns the results so far with it.
func RunAll(ctx context.Context, env *Env, ss []Scenario) ([]report.Scenario, error) {
	var out []report.Scenario
	for _, s := range ss {
		r, err := s.Run(ctx, env)
		if err != nil {
			return out, fmt.Errorf("scenario %s: %w", s.Name(), err)
		}
		r.Name = s.Name()
		out = append(out, r)
	}
	return out, nil
}
