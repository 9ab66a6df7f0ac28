package paired

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/bench/stats"
)

// DefaultMinNoiseFloor is the smallest noise floor a run uses, whatever its
// A/A pair showed: a lucky A/A interval of [0.999, 1.001] would otherwise
// call a 0.2% difference a finding.
const DefaultMinNoiseFloor = 0.02

// Method describes how Summarize computes its intervals (recorded in
// paired.json).
const Method = "Per round, each pool's latency percentiles are divided by the control pool's of the same round (paired). " +
	"p50 headline: per-second paired ratios (pool p50 / control p50 in the same second), median over every second of every round, " +
	"95% interval from a two-level bootstrap (rounds, then seconds within each drawn round). " +
	"p90/p99 and the p50 per-round figure: median over rounds of the per-round ratios, percentile-bootstrap interval (a verdict from 5 rounds up). " +
	"Absolute latencies: median over rounds with a bootstrap interval. " +
	"Noise floor: how far from 1 the A/A pair's interval reaches (at least the minimum floor). " +
	"A ratio is a finding only when its interval excludes 1 and its estimate differs from 1 by more than the floor."

// Options configures Summarize.
type Options struct {
	// Resamples of every bootstrap (default stats.DefaultResamples).
	Resamples int
	// Level of every interval (default stats.DefaultLevel).
	Level float64
	// MinNoiseFloor (default DefaultMinNoiseFloor).
	MinNoiseFloor float64
	// Seed of the bootstrap's generator: the same seed gives the same
	// intervals.
	Seed uint64
}

func (o *Options) defaults() {
	if o.Resamples <= 0 {
		o.Resamples = stats.DefaultResamples
	}
	if o.Level <= 0 || o.Level >= 1 {
		o.Level = stats.DefaultLevel
	}
	if o.MinNoiseFloor <= 0 {
		o.MinNoiseFloor = DefaultMinNoiseFloor
	}
}

// Summarize computes each round's ratios to the control pool (filling
// rounds[i].Ratios) and the summary over rounds: absolute percentiles,
// ratios with intervals, the A/A noise floor and every ratio's verdict.
// pools lists the pools in display order; control and aa name the control
// pool and its A/A twin. It also returns warnings (an A/A interval that
// excludes 1, a round without the control).
func Summarize(rounds []report.PairedRound, pools []report.PoolInfo, control, aa string, o Options) (report.PairedSummary, []string) {
	o.defaults()
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	var warnings []string
	for i := range rounds {
		r := &rounds[i]
		r.Ratios = nil
		ctrl := poolRound(r, control)
		if ctrl == nil {
			warnings = append(warnings, fmt.Sprintf("round %d has no %s pool: no ratio", r.Round, control))
			continue
		}
		for _, p := range r.Pools {
			if p.Pool == control {
				continue
			}
			r.Ratios = append(r.Ratios, report.RoundRatio{Pool: p.Pool, Strategy: p.Strategy,
				P50: ratio(p.Latency.P50, ctrl.Latency.P50), P90: ratio(p.Latency.P90, ctrl.Latency.P90), P99: ratio(p.Latency.P99, ctrl.Latency.P99)})
		}
	}
	sum := report.PairedSummary{Method: Method}
	by := map[string]report.PoolSummary{}
	// The A/A pair first: its spread is the floor every other is judged by.
	order := []report.PoolInfo{}
	for _, p := range pools {
		if p.Pool == aa {
			order = append([]report.PoolInfo{p}, order...)
		} else {
			order = append(order, p)
		}
	}
	for _, p := range order {
		by[p.Pool] = summarizePool(rounds, p, control, o, rng)
	}
	aaSum := by[aa]
	floor := func(r *report.Ratio) float64 {
		if r == nil || !r.Valid() {
			return math.NaN()
		}
		return stats.NoiseFloor(r.Interval, o.MinNoiseFloor)
	}
	sum.NoiseFloor = report.NoiseFloors{P50: clean(floor(aaSum.RatioP50)), P90: clean(floor(aaSum.RatioP90)), P99: clean(floor(aaSum.RatioP99))}
	for _, p := range pools {
		s := by[p.Pool]
		judge(s.RatioP50, floor(aaSum.RatioP50))
		if s.RatioP50 != nil && s.Rounds < MinRoundsForSecondsVerdict {
			// One round's seconds share one placement of the processes and
			// are autocorrelated: their interval alone is far too narrow.
			s.RatioP50.Verdict = stats.Unknown
		}
		judge(s.RatioP50Rounds, floor(aaSum.RatioP50Rounds))
		judge(s.RatioP90, floor(aaSum.RatioP90))
		judge(s.RatioP99, floor(aaSum.RatioP99))
		if p.Pool == aa {
			sum.AA = s
			continue
		}
		sum.Pools = append(sum.Pools, s)
	}
	if r := sum.AA.RatioP50; r != nil && r.Valid() && !r.Contains(1) {
		warnings = append(warnings, fmt.Sprintf("the A/A pair (%s / %s) differed: its p50 ratio %s excludes 1.0, so two identical pools did not measure alike; "+
			"the noise floor absorbs it, but treat findings near the floor with care", aa, control, r.Interval))
	}
	if aaSum.RatioP50 == nil || !aaSum.RatioP50.Valid() {
		warnings = append(warnings, "no A/A pair measured: no noise floor, no verdict")
	}
	return sum, warnings
}

// summarizePool summarises one pool over the rounds.
func summarizePool(rounds []report.PairedRound, p report.PoolInfo, control string, o Options, rng *rand.Rand) report.PoolSummary {
	s := report.PoolSummary{Pool: p.Pool, Strategy: p.Strategy}
	var p50, p90, p99, r50, r90, r99 []float64
	var blocks [][]float64
	for i := range rounds {
		pr := poolRound(&rounds[i], p.Pool)
		if pr == nil || pr.Requests == 0 {
			continue
		}
		s.Rounds++
		p50, p90, p99 = append(p50, pr.Latency.P50), append(p90, pr.Latency.P90), append(p99, pr.Latency.P99)
		if p.Pool == control {
			continue
		}
		for _, rr := range rounds[i].Ratios {
			if rr.Pool == p.Pool {
				r50, r90, r99 = append(r50, rr.P50), append(r90, rr.P90), append(r99, rr.P99)
			}
		}
		if ctrl := poolRound(&rounds[i], control); ctrl != nil {
			blocks = append(blocks, stats.Ratios(pr.SecondP50Ms, ctrl.SecondP50Ms))
		}
	}
	s.P50Ms = interval(stats.MedianCI(p50, o.Resamples, o.Level, rng))
	s.P90Ms = interval(stats.MedianCI(p90, o.Resamples, o.Level, rng))
	s.P99Ms = interval(stats.MedianCI(p99, o.Resamples, o.Level, rng))
	if p.Pool == control {
		return s
	}
	s.RatioP50 = &report.Ratio{Interval: interval(stats.HierarchicalRatio(blocks, o.Resamples, o.Level, rng)), Method: report.MethodSeconds}
	rounds50 := stats.MedianCI(positive(r50), o.Resamples, o.Level, rng)
	s.RatioP50Rounds = &report.Ratio{Interval: interval(rounds50), Method: report.MethodRounds}
	s.RatioP90 = &report.Ratio{Interval: interval(stats.MedianCI(positive(r90), o.Resamples, o.Level, rng)), Method: report.MethodRounds}
	s.RatioP99 = &report.Ratio{Interval: interval(stats.MedianCI(positive(r99), o.Resamples, o.Level, rng)), Method: report.MethodRounds}
	return s
}

// MinRoundsForVerdict is the fewest rounds a per-round ratio needs for a
// verdict: the bootstrap interval of a median of n values is about their
// range, which holds the true median with probability 1 − 2·0.5ⁿ (50% for
// two rounds, 94% for five). With fewer, its verdict is unknown; the
// per-second p50 ratio, whose interval rests on every second, still has
// one.
const MinRoundsForVerdict = 5

// MinRoundsForSecondsVerdict is the fewest rounds the per-second p50 ratio
// needs for a verdict: its bootstrap resamples rounds first, and one
// round's seconds are not independent of each other.
const MinRoundsForSecondsVerdict = 2

// judge labels r against floor.
func judge(r *report.Ratio, floor float64) {
	if r == nil {
		return
	}
	r.NoiseFloor = clean(floor)
	r.Verdict = stats.Classify(r.Interval, floor)
	if math.IsNaN(floor) || (r.Method == report.MethodRounds && r.N < MinRoundsForVerdict) {
		r.Verdict = stats.Unknown
	}
}

func poolRound(r *report.PairedRound, pool string) *report.PoolRound {
	for i := range r.Pools {
		if r.Pools[i].Pool == pool {
			return &r.Pools[i]
		}
	}
	return nil
}

// ratio is a/b, 0 when it cannot be computed (stats.Ratios skips it).
func ratio(a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return a / b
}

func positive(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if x > 0 && !math.IsInf(x, 0) && !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	return out
}

// interval makes i storable as JSON: an invalid interval (NaN) becomes the
// zero Interval (N = 0, which Valid reports as invalid).
func interval(i stats.Interval) stats.Interval {
	if !i.Valid() {
		return stats.Interval{Level: i.Level}
	}
	return i
}

// clean maps NaN to 0 for JSON.
func clean(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}
