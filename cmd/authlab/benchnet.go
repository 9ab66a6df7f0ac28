package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/authlab/authlab/bench"
	"github.com/authlab/authlab/bench/paired"
)

// benchNet are bench's network-condition flags: a proxy between the
// gateways and a single Redis that adds latency (and jitter), the round
// trips the redis-rtt scenario sweeps, and a proxy before every gateway
// the lb forwards to (run by the lb, which starts and addresses its
// gateways itself: `authlab lb --upstream-latency`). The two proxies are
// independent.
type benchNet struct {
	latency, jitter                 time.Duration
	rttSteps                        []time.Duration
	upstreamLatency, upstreamJitter time.Duration
}

// registerBenchNet defines the flags on fs; apply copies their values
// into a bench.Config once fs is parsed.
func registerBenchNet(fs *flag.FlagSet) *benchNet {
	n := &benchNet{}
	fs.DurationVar(&n.latency, "redis-latency", 0, "round trip added to every gateway↔Redis exchange by an in-process toxiproxy delaying Redis's replies (e.g. 1ms; single Redis only: the harness's own counters bypass it)")
	fs.DurationVar(&n.jitter, "redis-jitter", 0, "± on --redis-latency's round trip (uniform; e.g. 200us)")
	fs.Func("redis-rtt-steps", "redis-rtt scenario: comma-separated round trips to add, one load step each (default 0,500us,1ms,2ms,5ms)", func(v string) error {
		steps, err := parseDurations(v)
		n.rttSteps = steps
		return err
	})
	fs.DurationVar(&n.upstreamLatency, "upstream-latency", 0, "round trip added to every lb↔gateway exchange (requests and health checks) by an in-process toxiproxy the lb runs before each gateway, delaying the gateway's replies (e.g. 2ms; also in a paired run, every pool alike; not with --target)")
	fs.DurationVar(&n.upstreamJitter, "upstream-jitter", 0, "± on --upstream-latency's round trip (uniform; e.g. 200us)")
	return n
}

// apply copies the parsed flags into cfg.
func (n *benchNet) apply(cfg *bench.Config) {
	cfg.RedisLatency, cfg.RedisJitter, cfg.RedisRTTSteps = n.latency, n.jitter, n.rttSteps
	cfg.UpstreamLatency, cfg.UpstreamJitter = n.upstreamLatency, n.upstreamJitter
}

// applyPaired copies the flags a paired run takes (the upstream proxy:
// the Redis ones are refused there) into cfg.
func (n *benchNet) applyPaired(cfg *paired.Config) {
	cfg.UpstreamLatency, cfg.UpstreamJitter = n.upstreamLatency, n.upstreamJitter
}

// parseDurations parses a comma-separated list of durations ≥ 0.
func parseDurations(v string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if f == "0" {
			out = append(out, 0)
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("duration %q: want a non-negative duration such as 500us or 2ms", f)
		}
		out = append(out, d)
	}
	return out, nil
}
