package scenario

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/authlab/authlab/bench/measure"
	"github.com/authlab/authlab/bench/report"
)

// CapacityName names the capacity scenario.
const CapacityName = "capacity"

// Capacity doubles the rate from the configured one (then bisects) to find
// the highest rate whose p99 stays under the bound with < 1% errors. A
// step at which the load generator did not keep up is marked saturated:
// it measured the generator, not the system, so it never passes and the
// search goes no higher. Each step records the CPU of the generator, the
// gateways and the lb, and the result says which side ran out.
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
			lbCPU := lbCPUReader(ctx, env)
			lb0 := lbCPU()
			s, pr, err := env.Load(ctx, CapacityName, rate, cfg.CapacityStep)
			if err != nil {
				return report.CapacityStep{}, err
			}
			st := report.CapacityStep{Rate: rate, Achieved: s.AchievedRate, P99: s.Latency.P99, Load: s.Load}
			if s.Requests > 0 {
				st.ErrorRate = report.Round3(float64(s.Errors.Total()) / float64(s.Requests))
			}
			if s.Load != nil {
				st.Saturated, st.GeneratorCPUPercent = s.Load.Saturated, s.Load.GeneratorCPUPercent
			}
			if wall := pr.Wall.Seconds(); wall > 0 {
				st.GatewaysCPUPercent = report.Round3(100 * s.Gateway.CPUSeconds / wall)
				st.LBCPUPercent = report.Round3(100 * (lbCPU() - lb0).Seconds() / wall)
			}
			return st, nil
		})
	if err != nil {
		return report.Scenario{}, err
	}
	c.LimitedBy, c.LimitReason = limitedBy(c.Steps)
	out := report.Scenario{Capacity: c}
	for i := range c.Steps {
		out.Load = worse(out.Load, c.Steps[i].Load)
	}
	if c.LimitedBy == limitGenerator {
		out.Warnings = append(out.Warnings, "capacity stopped at the load generator's limit, not the system's: "+c.LimitReason)
	}
	return out, nil
}

// Sides that can run out first in the capacity scenario.
const (
	limitGenerator = "generator"
	limitGateways  = "gateways"
	limitLB        = "lb"
)

// lbCPUReader returns a reader of the lb's CPU so far: the lb is the
// gateways' parent. It reads 0 when that cannot be found.
func lbCPUReader(ctx context.Context, env *Env) func() time.Duration {
	pids, err := env.GatewayPIDs(ctx)
	if err != nil || len(pids) == 0 {
		return func() time.Duration { return 0 }
	}
	ppid, err := measure.ParentPID(pids[0])
	if err != nil || ppid <= 1 || ppid == os.Getpid() {
		return func() time.Duration { return 0 }
	}
	return func() time.Duration { return measure.TotalCPU([]int{ppid}) }
}

// limitedBy says which side ran out at the lowest failing step: the
// generator when that step was saturated, else whichever of the gateways
// (summed) and the lb used more CPU. Nothing when no step failed.
func limitedBy(steps []report.CapacityStep) (side, reason string) {
	var fail *report.CapacityStep
	for i := range steps {
		if st := &steps[i]; !st.Pass && (fail == nil || st.Rate < fail.Rate) {
			fail = st
		}
	}
	if fail == nil {
		return "", ""
	}
	cpus := fmt.Sprintf("CPU at %s req/s: generator %.0f%%, gateways %.0f%%, lb %.0f%% of a core",
		strconv.FormatFloat(fail.Rate, 'f', -1, 64), fail.GeneratorCPUPercent, fail.GatewaysCPUPercent, fail.LBCPUPercent)
	switch {
	case fail.Saturated:
		why := ""
		if fail.Load != nil {
			why = fail.Load.Reason + "; "
		}
		return limitGenerator, why + cpus
	case fail.LBCPUPercent > fail.GatewaysCPUPercent:
		return limitLB, cpus
	}
	return limitGateways, cpus
}

// searchCapacity finds the highest rate passing the bound: p99 ≤ boundMs,
// error rate < 1%, achieved ≥ 95% of the rate, generator not saturated. It doubles from start
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
		st.Pass = !st.Saturated && st.P99 <= boundMs && st.ErrorRate < 0.01 && st.Achieved >= 0.95*rate
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
