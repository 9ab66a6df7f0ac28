// Package stats is the statistics behind a comparison that earns the word
// "finding": medians with percentile-bootstrap confidence intervals, ratios
// computed on pairs measured at the same moment, and the labelling of a
// difference as a finding or as within the noise an A/A control shows.
//
// Every function is deterministic for a given *rand.Rand, so a report can
// record its seed and be recomputed exactly.
package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// DefaultResamples is the number of bootstrap resamples used by callers
// that have no reason to choose another (enough for stable 95% bounds).
const DefaultResamples = 2000

// DefaultLevel is the confidence level of the intervals.
const DefaultLevel = 0.95

// Interval is an estimate with its confidence interval.
type Interval struct {
	// Est is the point estimate (the statistic on the whole sample).
	Est float64 `json:"est"`
	// Lo and Hi bound the interval at Level.
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
	// Level is the confidence level (0.95).
	Level float64 `json:"level"`
	// N is the number of observations behind the estimate (rounds, or
	// paired blocks).
	N int `json:"n"`
}

// Contains reports whether v lies within [Lo, Hi].
func (i Interval) Contains(v float64) bool { return i.Lo <= v && v <= i.Hi }

// Valid reports whether the interval holds numbers (N > 0, no NaN).
func (i Interval) Valid() bool {
	return i.N > 0 && !math.IsNaN(i.Est) && !math.IsNaN(i.Lo) && !math.IsNaN(i.Hi)
}

// String formats the interval as "1.23 [1.10, 1.35]".
func (i Interval) String() string {
	if !i.Valid() {
		return "–"
	}
	return fmt.Sprintf("%.3g [%.3g, %.3g]", i.Est, i.Lo, i.Hi)
}

// Quantile returns the q-quantile of sorted by linear interpolation between
// closest ranks (type 7, as R and NumPy default). NaN for an empty sample.
func Quantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if n == 1 {
		return sorted[0]
	}
	q = math.Min(1, math.Max(0, q))
	h := q * float64(n-1)
	lo := int(math.Floor(h))
	if lo >= n-1 {
		return sorted[n-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// Median returns the median of xs (NaN when empty). xs is not modified.
func Median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return Quantile(s, 0.5)
}

// Statistic summarises a sample into one number.
type Statistic func(xs []float64) float64

// Bootstrap estimates stat over xs with a percentile bootstrap interval at
// level from resamples resamples drawn with rng. With a single observation
// the interval is the point itself (nothing is known of the spread: callers
// should say so rather than read it as precise).
func Bootstrap(xs []float64, stat Statistic, resamples int, level float64, rng *rand.Rand) Interval {
	n := len(xs)
	if n == 0 {
		return Interval{Est: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), Level: level}
	}
	est := stat(xs)
	if n == 1 || resamples < 1 {
		return Interval{Est: est, Lo: est, Hi: est, Level: level, N: n}
	}
	boot := make([]float64, 0, resamples)
	buf := make([]float64, n)
	for range resamples {
		for i := range buf {
			buf[i] = xs[rng.IntN(n)]
		}
		if v := stat(buf); !math.IsNaN(v) {
			boot = append(boot, v)
		}
	}
	slices.Sort(boot)
	alpha := (1 - level) / 2
	return Interval{Est: est, Lo: Quantile(boot, alpha), Hi: Quantile(boot, 1-alpha), Level: level, N: n}
}

// MedianCI is Bootstrap of the median.
func MedianCI(xs []float64, resamples int, level float64, rng *rand.Rand) Interval {
	return Bootstrap(xs, Median, resamples, level, rng)
}

// Ratios returns a[i]/b[i] for every pair where both are positive and
// finite: the paired ratios of two measures taken at the same moment
// (the same round, or the same second of the same round).
func Ratios(a, b []float64) []float64 {
	n := min(len(a), len(b))
	out := make([]float64, 0, n)
	for i := range n {
		if a[i] > 0 && b[i] > 0 && !math.IsInf(a[i], 0) && !math.IsInf(b[i], 0) {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

// PairedRatio is the median of the paired ratios a[i]/b[i] with its
// bootstrap interval: the ratio is taken within each pair first (so drift
// shared by both sides of a pair cancels), then summarised.
func PairedRatio(a, b []float64, resamples int, level float64, rng *rand.Rand) Interval {
	return MedianCI(Ratios(a, b), resamples, level, rng)
}

// HierarchicalRatio summarises paired ratios grouped by round: groups[r]
// holds the per-block ratios of round r (a block is a second in which both
// sides were measured). The estimate is the median over every block; the
// interval comes from a two-level bootstrap that resamples rounds, then
// blocks within each drawn round, so round-to-round variation (fresh
// topology, different machine state) widens it as it should, and one round
// still yields an interval from its blocks.
func HierarchicalRatio(groups [][]float64, resamples int, level float64, rng *rand.Rand) Interval {
	var all []float64
	var nonEmpty [][]float64
	for _, g := range groups {
		if len(g) > 0 {
			all = append(all, g...)
			nonEmpty = append(nonEmpty, g)
		}
	}
	if len(all) == 0 {
		return Interval{Est: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), Level: level}
	}
	est := Median(all)
	if len(all) == 1 || resamples < 1 {
		return Interval{Est: est, Lo: est, Hi: est, Level: level, N: len(all)}
	}
	boot := make([]float64, 0, resamples)
	var buf []float64
	for range resamples {
		buf = buf[:0]
		for range nonEmpty {
			g := nonEmpty[rng.IntN(len(nonEmpty))]
			for range g {
				buf = append(buf, g[rng.IntN(len(g))])
			}
		}
		boot = append(boot, Median(buf))
	}
	slices.Sort(boot)
	alpha := (1 - level) / 2
	return Interval{Est: est, Lo: Quantile(boot, alpha), Hi: Quantile(boot, 1-alpha), Level: level, N: len(all)}
}

// NoiseFloor is how far from 1.0 the A/A control's ratio interval reaches:
// two identical pools measured side by side differed by up to this much,
// so smaller differences cannot be told from noise. It is never below
// minFloor (a floor of 0 from a lucky A/A would call anything a finding).
func NoiseFloor(aa Interval, minFloor float64) float64 {
	if !aa.Valid() {
		return math.NaN()
	}
	f := math.Max(math.Abs(aa.Est-1), math.Max(aa.Hi-1, 1-aa.Lo))
	return math.Max(f, minFloor)
}

// Verdict labels a ratio against the control.
type Verdict string

// Verdicts.
const (
	// Slower: the interval lies above 1 and the difference exceeds the
	// noise floor.
	Slower Verdict = "slower"
	// Faster: the interval lies below 1 and the difference exceeds the
	// noise floor. A strategy reported faster than the control group is
	// suspicious by nature; the report says so.
	Faster Verdict = "faster"
	// WithinNoise: the interval contains 1, or the difference does not
	// exceed the noise floor.
	WithinNoise Verdict = "within noise"
	// Unknown: no interval or no noise floor to judge by.
	Unknown Verdict = "unknown"
)

// IsFinding reports whether v is a finding (Slower or Faster).
func (v Verdict) IsFinding() bool { return v == Slower || v == Faster }

// Classify labels ratio (a strategy's measure over the control's): a
// finding only when its interval excludes 1.0 and its estimate differs
// from 1.0 by more than noiseFloor.
func Classify(ratio Interval, noiseFloor float64) Verdict {
	if !ratio.Valid() || math.IsNaN(noiseFloor) {
		return Unknown
	}
	switch {
	case ratio.Lo > 1 && ratio.Est-1 > noiseFloor:
		return Slower
	case ratio.Hi < 1 && 1-ratio.Est > noiseFloor:
		return Faster
	default:
		return WithinNoise
	}
}

// Contradicts reports whether two verdicts on the same cell disagree: both
// are findings and point in opposite directions. A finding in one run and
// "within noise" in the other is no contradiction (the second run was less
// sure); slower in one and faster in the other is.
func Contradicts(a, b Verdict) bool {
	return (a == Slower && b == Faster) || (a == Faster && b == Slower)
}
