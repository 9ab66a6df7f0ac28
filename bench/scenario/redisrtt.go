package scenario

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/report"
)

// RedisRTTName names the scenario sweeping the Redis round trip.
const RedisRTTName = "redis-rtt"

// DefaultRedisRTTSteps are the round trips redis-rtt adds, in order.
var DefaultRedisRTTSteps = []time.Duration{0, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond}

// RedisNet changes the network between the gateways and Redis
// (netem.Proxy, started by the topology for a single Redis).
type RedisNet interface {
	// SetLatency adds rtt (± jitter) to every Redis round trip (the
	// replies are delayed).
	SetLatency(ctx context.Context, rtt, jitter time.Duration) error
	// Latency is what is in effect.
	Latency() (rtt, jitter time.Duration)
	// Cut makes every gateway↔Redis connection hang; Heal ends it.
	Cut(ctx context.Context) error
	Heal(ctx context.Context) error
}

// redisNetSkip is the reason the network scenarios skip without a proxy.
const redisNetSkip = "needs the in-process proxy between the gateways and a single Redis the harness started (--redis single, no --target)"

// NeedsRedisNet reports whether any of the scenarios names needs a
// RedisNet.
func NeedsRedisNet(names []string) bool {
	for _, n := range names {
		if n == RedisRTTName || n == RedisHangName {
			return true
		}
	}
	return false
}

// RedisRTT sweeps the round trip added between the gateways and Redis
// (Config.RedisRTTSteps, default 0, 0.5, 1, 2, 5 ms; no jitter) with one
// short load phase per step (Duration/5, at least 3 s) and reports p50 and
// p99 per step, Redis commands per request, and the physics line: a
// strategy that touches Redis on every request must pay at least one
// added round trip at p50; one that never does must stay within noise.
// The latency in effect before (--redis-latency) is restored afterwards.
type RedisRTT struct{}

// Name implements Scenario.
func (RedisRTT) Name() string { return RedisRTTName }

// Run implements Scenario.
func (RedisRTT) Run(ctx context.Context, env *Env) (report.Scenario, error) {
	rn := env.RedisNet
	if rn == nil {
		return report.Scenario{Skipped: true, SkipReason: redisNetSkip}, nil
	}
	steps := env.Config.RedisRTTSteps
	if len(steps) == 0 {
		steps = DefaultRedisRTTSteps
	}
	dur := max(env.Config.Duration/5, 3*time.Second)
	baseRTT, baseJitter := rn.Latency()
	defer func() { _ = rn.SetLatency(context.WithoutCancel(ctx), baseRTT, baseJitter) }()
	// An unmeasured second first: the first step would otherwise carry
	// the pools' warm-up in its p99.
	if _, err := env.Driver.Run(ctx, load.Phase{Name: RedisRTTName + "-warmup", Rate: env.Config.Rate, Duration: time.Second}); err != nil {
		return report.Scenario{}, err
	}
	var (
		first   report.Scenario
		results []report.RTTStep
	)
	for i, rtt := range steps {
		if err := rn.SetLatency(ctx, rtt, 0); err != nil {
			return report.Scenario{}, err
		}
		env.Progress.Note("redis-rtt: %s added to every Redis round trip", rtt)
		s, _, err := env.Load(ctx, fmt.Sprintf("%s-%s", RedisRTTName, rtt), env.Config.Rate, dur)
		if err != nil {
			return report.Scenario{}, err
		}
		if i == 0 {
			first = s
		}
		results = append(results, report.RTTStep{
			AddedRTTMs: ms(rtt), DurationS: s.DurationS, Requests: s.Requests, OK: s.OK,
			Latency: s.Latency, Errors: s.Errors, RedisCommandsPerRequest: s.RedisCommandsPerRequest,
		})
	}
	noise := rttNoise(results)
	judgeRTTSteps(results, noise)
	first.RedisRTT = &report.RedisRTT{
		Method: fmt.Sprintf("Each step adds its round trip to every gateway↔Redis exchange through an in-process toxiproxy (every reply from Redis delayed by it, so each exchange pays it once; no jitter), then runs %v req/s for %s.",
			env.Config.Rate, dur),
		NoiseMs: noise,
		Steps:   results,
	}
	return first, nil
}

// rttNoise is the p50 change read as noise: a fifth of the first step's
// p50, at least 0.2 ms (a loaded 2-core machine moves p50 that much
// between identical phases).
func rttNoise(steps []report.RTTStep) float64 {
	if len(steps) == 0 {
		return 0.2
	}
	return report.Round3(max(0.2, steps[0].Latency.P50/5))
}

// Thresholds of judgeRTTSteps on Redis commands per request.
const (
	// everyRequest: at least one command per request on average means
	// (for the strategies here) every request waits on Redis.
	everyRequest = 1.0
	// noRequest: below this, requests do not touch Redis.
	noRequest = 0.05
)

// judgeRTTSteps fills each step's growth, physics line and verdict from
// the measured p50s and commands per request (the first step is the
// baseline).
func judgeRTTSteps(steps []report.RTTStep, noiseMs float64) {
	if len(steps) == 0 {
		return
	}
	base := steps[0].Latency.P50
	for i := range steps {
		st := &steps[i]
		st.P50GrowthMs = report.Round3(st.Latency.P50 - base)
		st.Expect, st.Holds = "", nil
		if c := st.RedisCommandsPerRequest; c != nil {
			st.ExpectedGrowthMs = report.Float(report.Round3(*c * st.AddedRTTMs))
		}
		if i == 0 || st.AddedRTTMs <= 0 || st.RedisCommandsPerRequest == nil {
			continue
		}
		switch c := *st.RedisCommandsPerRequest; {
		case c >= everyRequest:
			// The steps are separate phases: the same noise allowance as
			// below, on the side latency can only add to.
			st.Expect = "≥ 1 RTT"
			st.Holds = boolPtr(st.P50GrowthMs >= st.AddedRTTMs-noiseMs)
		case c < noRequest:
			st.Expect = "within noise"
			st.Holds = boolPtr(math.Abs(st.P50GrowthMs) <= noiseMs)
		}
	}
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func boolPtr(v bool) *bool { return &v }
