package report

import (
	"math"
	"slices"
	"time"
)

// Summarize computes exact percentiles (nearest rank on the sorted sample,
// not a sketch) of ds. ds is sorted in place.
func Summarize(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Percentiles{
		Count: len(ds),
		Mean:  ms(sum / time.Duration(len(ds))),
		P50:   ms(Quantile(ds, 0.50)),
		P90:   ms(Quantile(ds, 0.90)),
		P99:   ms(Quantile(ds, 0.99)),
		P999:  ms(Quantile(ds, 0.999)),
		Max:   ms(ds[len(ds)-1]),
	}
}

// Quantile returns the nearest-rank q-quantile of the sorted sample (0
// for an empty one).
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// Recovery criteria: the success rate must be back to RecoveryRate for
// RecoveryWindow consecutive seconds.
const (
	RecoveryRate   = 0.99
	RecoveryWindow = 5
)

// Recovery returns the time from fromS (seconds since the start of the
// load) until the success rate is ≥ RecoveryRate for RecoveryWindow
// consecutive timeline seconds that all carry traffic, or nil when that
// never happens within the timeline. A disturbance that never dropped the
// success rate gives 0. The timeline's seconds must be consecutive from 0.
func Recovery(timeline []Second, fromS float64) *float64 {
	start := int(math.Floor(fromS))
	if start < 0 {
		start = 0
	}
	run := 0
	for i := start; i < len(timeline); i++ {
		s := timeline[i]
		if s.Requests > 0 && s.SuccessRate() >= RecoveryRate {
			run++
		} else {
			run = 0
		}
		if run == RecoveryWindow {
			first := i - RecoveryWindow + 1
			v := float64(first) - fromS
			if v < 0 {
				v = 0
			}
			return Float(math.Round(v*100) / 100)
		}
	}
	return nil
}

// Round3 rounds v to 3 decimals, the precision of the report's derived
// figures (rates, seconds, bytes per request).
func Round3(v float64) float64 { return math.Round(v*1000) / 1000 }
