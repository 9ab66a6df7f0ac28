package scenario

import (
	"context"
	"math"
	"time"

	"github.com/authlab/authlab/bench/report"
)

// CapacityName names the capacity scenario.
const CapacityName = "capacity"

// Capacity doubles the rate from the configured one (then bisects) to find
// the highest rate whose p99 stays under the bound with < 1% errors.
type Capacity struct{}

// Name implements Scenario.
func (Capacity) Name() string { return CapacityName }

// Run implements Scenario.
func (Capacity) Run(ctx context.Context, env *Env) (report.Scenario, error) {
	cfg := env.Config
	bound := float64(cfg.CapacityP99) / 1e6
	deadline := time.Now().Add(cfg.CapacityBudget)
	c, err := searchCapacity(cfg.Rate, bound,
		func() bool { return time.Now().Add(cfg.CapacityStep).Before(deadline.Add(time.Second)) },
		func(rate float64) (report.CapacityStep, error) {
			env.Progress.Note("capacity: trying %v req/s", rate)
			s, _, err := env.Load(ctx, CapacityName, rate, cfg.CapacityStep)
			if err != nil {
				return report.CapacityStep{}, err
			}
			st := report.CapacityStep{Rate: rate, Achieved: s.AchievedRate, P99: s.Latency.P99}
			if s.Requests > 0 {
				st.ErrorRate = report.Round3(float64(s.Errors.Total()) / float64(s.Requests))
			}
			return st, nil
		})
	if err != nil {
		return report.Scenario{}, err
	}
	return report.Scenario{Capacity: c}, nil
}

// searchCapacity finds the highest rate passing the bound: p99 ≤ boundMs,
// error rate < 1%, achieved ≥ 95% of the rate. It doubles from start
// while steps pass (halves while none has), then bisects between the
// highest pass and the lowest failure until they are within 15%, for at
// most 10 steps and while more time is left.
func searchCapacity(start, boundMs float64, more func() bool, try func(rate float64) (report.CapacityStep, error)) (*report.Capacity, error) {
	c := &report.Capacity{BoundP99Ms: boundMs}
	lo, hi := 0.0, 0.0 // highest passing rate, lowest failing rate
	rate := start
	for step := 0; step < 10 && more(); step++ {
		st, err := try(rate)
		if err != nil {
			return nil, err
		}
		st.Rate = rate
		st.Pass = st.P99 <= boundMs && st.ErrorRate < 0.01 && st.Achieved >= 0.95*rate
		c.Steps = append(c.Steps, st)
		if st.Pass {
			lo, c.MaxRate = rate, rate
		} else {
			hi = rate
		}
		switch {
		case hi == 0:
			rate *= 2
		case lo == 0:
			if rate /= 2; rate < 1 {
				return c, nil
			}
		default:
			if hi <= lo*1.15 {
				return c, nil
			}
			rate = math.Round((lo + hi) / 2)
		}
	}
	return c, nil
}
