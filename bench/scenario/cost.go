package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/authlab/authlab/bench/measure"
	"github.com/authlab/authlab/bench/report"
)

// CostName names the cost scenario.
const CostName = "cost"

// Cost measures the gateways' marginal CPU per request: their CPU over a
// window with no load (idle: health checks, timers, GC), then under load
// at two or more rates over windows of the same length. Each point is
// (CPU under load − idle CPU over as long) / requests, so the fixed cost
// is not charged to requests; the marginal cost is the slope between the
// lowest and the highest rate, which the idle CPU cancels out of.
type Cost struct{}

// Name implements Scenario.
func (Cost) Name() string { return CostName }

// Run implements Scenario.
func (Cost) Run(ctx context.Context, env *Env) (report.Scenario, error) {
	cfg := env.Config
	win := cfg.CostWindow
	env.Progress.Note("cost: gateways idle for %s", win)
	idleRate, err := idleCPURate(ctx, env, win)
	if err != nil {
		return report.Scenario{}, err
	}
	var points []report.CostStep
	var worst *report.LoadHealth
	for _, rate := range cfg.CostRates {
		env.Progress.Note("cost: %v req/s for %s", rate, win)
		s, pr, err := env.Load(ctx, CostName, rate, win)
		if err != nil {
			return report.Scenario{}, err
		}
		p := costPoint(rate, s.Requests, time.Duration(s.Gateway.CPUSeconds*float64(time.Second)), idleRate, pr.Wall)
		p.Load = s.Load
		points = append(points, p)
		worst = worse(worst, s.Load)
	}
	c := &report.Cost{IdleCPUPercent: report.Round3(100 * idleRate), Points: points, MarginalUsPerRequest: marginalUs(points)}
	out := report.Scenario{DurationS: (time.Duration(len(cfg.CostRates)+1) * win).Seconds(), Cost: c, Load: worst}
	if worst != nil && worst.Saturated {
		out.Warnings = append(out.Warnings, "the load generator did not keep up at some rate ("+worst.Reason+
			"): the CPU per request at that rate is still the gateways', but the rate is not the one requested")
	}
	return out, nil
}

// idleCPURate is the gateways' CPU over win with no load, in CPU seconds
// per second.
func idleCPURate(ctx context.Context, env *Env, win time.Duration) (float64, error) {
	pids, err := env.GatewayPIDs(ctx)
	if err != nil {
		return 0, fmt.Errorf("gateway pids: %w", err)
	}
	if len(pids) == 0 {
		return 0, fmt.Errorf("no gateway process to measure (external instances?)")
	}
	cpu0, t0 := measure.TotalCPU(pids), time.Now()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(win):
	}
	cpu, wall := measure.TotalCPU(pids)-cpu0, time.Since(t0)
	return cpu.Seconds() / wall.Seconds(), nil
}

// costPoint is one rate's cost: cpu used over wall while requests were
// answered, less the idle rate (CPU seconds per second) over the same
// wall, per request in µs.
func costPoint(rate float64, requests int, cpu time.Duration, idleRate float64, wall time.Duration) report.CostStep {
	idle := idleRate * wall.Seconds()
	p := report.CostStep{
		Rate: rate, Requests: requests, WindowS: report.Round3(wall.Seconds()),
		CPUSeconds: report.Round3(cpu.Seconds()), IdleCPUSeconds: report.Round3(idle),
	}
	if requests > 0 {
		p.NetUsPerRequest = report.Round3((cpu.Seconds() - idle) * 1e6 / float64(requests))
	}
	return p
}

// marginalUs is the slope of the gateways' CPU against requests between
// the first and the last point, in µs per request, net of idle over each
// point's own window; nil when the two points served as many requests.
func marginalUs(points []report.CostStep) *float64 {
	if len(points) < 2 {
		return nil
	}
	a, b := points[0], points[len(points)-1]
	dr := float64(b.Requests - a.Requests)
	if dr == 0 {
		return nil
	}
	netA, netB := a.CPUSeconds-a.IdleCPUSeconds, b.CPUSeconds-b.IdleCPUSeconds
	return report.Float(report.Round3((netB - netA) * 1e6 / dr))
}

// worse returns whichever of a and b is saturated (a when both or
// neither are, b when a is nil).
func worse(a, b *report.LoadHealth) *report.LoadHealth {
	switch {
	case a == nil:
		return b
	case b != nil && b.Saturated && !a.Saturated:
		return b
	}
	return a
}

// defaultCostWindow is the cost scenario's window unless configured:
// the configured duration, at most 10 s.
func defaultCostWindow(d time.Duration) time.Duration { return min(d, 10*time.Second) }

// validateCostRates checks the cost scenario's rates: at least two,
// positive, bounded, strictly increasing (default rate and 2×rate).
func validateCostRates(rates []float64, rate float64) ([]float64, error) {
	if len(rates) == 0 {
		return []float64{rate, min(2*rate, MaxRate)}, nil
	}
	if len(rates) < 2 {
		return nil, fmt.Errorf("cost rates: want at least two, got %v", rates)
	}
	for i, r := range rates {
		if r <= 0 || r > MaxRate {
			return nil, fmt.Errorf("cost rates: %v not in (0, %d]", r, MaxRate)
		}
		if i > 0 && r <= rates[i-1] {
			return nil, fmt.Errorf("cost rates: want increasing rates, got %v", rates)
		}
	}
	return rates, nil
}
