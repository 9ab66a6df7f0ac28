package load

import (
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Schedule is a constant-rate attack's schedule, for harness packages
// that run attacks of their own (bench/scale): the same attacker
// settings and the same intended send times as a Driver's phases.
type Schedule struct{ p pacing }

// NewAttack returns an attacker with the harness's settings (keep-alive,
// no redirects, bodies cut at 4 KiB, timeout) and the pacer for rate.
func NewAttack(timeout time.Duration, rate float64) (*vegeta.Attacker, vegeta.ConstantPacer) {
	return newAttack(timeout, rate)
}

// NewSchedule returns the schedule of pacer started at start.
func NewSchedule(start time.Time, pacer vegeta.ConstantPacer) Schedule {
	return Schedule{p: newPacing(start, pacer.Freq, pacer.Per)}
}

// Latency is r's latency from its intended send time, start +
// (seq+1)·interval (vegeta's pacer waits one interval before the first
// hit): a request the generator sent late counts its wait too.
func (s Schedule) Latency(r *vegeta.Result) time.Duration {
	return s.p.time(r.Seq, r.Timestamp, r.Latency).Latency
}
