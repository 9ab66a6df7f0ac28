package load

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/authlab/authlab/bench/report"
)

// The saturation rule: a phase's numbers are the generator's rather than
// the system's when any of these is exceeded.
const (
	// MinAchievedFraction: the generator sent less than this share of the
	// requested rate.
	MinAchievedFraction = 0.95
	// MaxGeneratorCPUPercent: the harness process used this much of one
	// core (100 = one core busy) or more; it competes with the system
	// under test for the machine, and its own scheduling delays grow.
	MaxGeneratorCPUPercent = 90.0
	// minLagBound and maxLagBound clamp the send-lag bound, which is
	// otherwise two intervals between requests: at 200 req/s 10 ms, at
	// 2000 req/s 1 ms.
	minLagBound = time.Millisecond
	maxLagBound = 10 * time.Millisecond
)

// pacing is a constant-rate schedule: request seq (vegeta's Result.Seq,
// counted from 0) is due at start + (seq+1)·interval, as vegeta's
// ConstantPacer waits one interval before the first hit.
type pacing struct {
	start    time.Time
	interval time.Duration
}

// newPacing returns the schedule of a vegeta.ConstantPacer{Freq, Per}
// started at start, with the pacer's own integer interval.
func newPacing(start time.Time, freq int, per time.Duration) pacing {
	if freq <= 0 {
		return pacing{start: start}
	}
	return pacing{start: start, interval: time.Duration(per.Nanoseconds() / int64(freq))}
}

// timing is where one request stands against the schedule, all from the
// start of the phase.
type timing struct {
	// Intended is when the request was due.
	Intended time.Duration
	// Sent is when vegeta actually sent it.
	Sent time.Duration
	// Lag is Sent − Intended (never negative).
	Lag time.Duration
	// Latency is from the intended send time to the end of the answer:
	// a request the generator sent late counts its wait too (no
	// coordinated omission).
	Latency time.Duration
}

// time places the result of request seq, sent at sent and answered after
// lat (vegeta's Seq, Timestamp and Latency), on the schedule.
func (p pacing) time(seq uint64, sent time.Time, lat time.Duration) timing {
	intended := time.Duration(seq+1) * p.interval
	t := timing{Intended: intended, Sent: sent.Sub(p.start)}
	t.Lag = max(0, t.Sent-intended)
	t.Latency = t.Lag + lat
	return t
}

// lagBound is the send lag p99 above which a phase at rate counts as
// saturated: two intervals, clamped to [1 ms, 10 ms].
func lagBound(rate float64) time.Duration {
	if rate <= 0 {
		return maxLagBound
	}
	two := time.Duration(2 * float64(time.Second) / rate)
	return min(maxLagBound, max(minLagBound, two))
}

// Health applies the saturation rule to a phase: requested and achieved
// rate, the p99 of the send lag, and the generator's CPU (percent of one
// core).
func Health(requested, achieved float64, lagP99 time.Duration, cpuPercent float64) report.LoadHealth {
	h := report.LoadHealth{
		RequestedRate:       requested,
		AchievedRate:        report.Round3(achieved),
		SendLagP99Ms:        report.Round3(float64(lagP99) / 1e6),
		GeneratorCPUPercent: report.Round3(cpuPercent),
	}
	var why []string
	if requested > 0 && achieved < MinAchievedFraction*requested {
		why = append(why, fmt.Sprintf("achieved %s of %s req/s (< %.0f%%)",
			trimNum(achieved), trimNum(requested), 100*MinAchievedFraction))
	}
	if b := lagBound(requested); lagP99 > b {
		why = append(why, fmt.Sprintf("send lag p99 %s ms > %s ms", trimNum(h.SendLagP99Ms), trimNum(float64(b)/1e6)))
	}
	if cpuPercent >= MaxGeneratorCPUPercent {
		why = append(why, fmt.Sprintf("generator CPU %.0f%% of a core (≥ %.0f%%)", cpuPercent, MaxGeneratorCPUPercent))
	}
	if len(why) > 0 {
		h.Saturated, h.Reason = true, strings.Join(why, "; ")
	}
	return h
}

func trimNum(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.3g", v)
}

// lagP99 is the 99th percentile (nearest rank) of lags.
func lagP99(lags []time.Duration) time.Duration {
	s := slices.Clone(lags)
	slices.Sort(s)
	return report.Quantile(s, 0.99)
}

// SelfCPU is the CPU (user + system) the harness process has used so far.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// CPUPercent is cpu over wall as percent of one core (0 for no wall time).
func CPUPercent(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}
