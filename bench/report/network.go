package report

import (
	"fmt"
	"strings"
	"time"
)

// Network is the latency the run added to its links by in-process
// fault-injecting proxies (toxiproxy): between the lb and every gateway
// (--upstream-latency, run by the lb) and between the gateways and a
// single Redis (--redis-latency, run by the harness). Each adds its
// round trip ± jitter (uniform) to every exchange on that link. The
// redis-rtt scenario's own steps are in its result, not here.
type Network struct {
	UpstreamLatencyMs float64 `json:"upstream_latency_ms"`
	UpstreamJitterMs  float64 `json:"upstream_jitter_ms"`
	RedisLatencyMs    float64 `json:"redis_latency_ms"`
	RedisJitterMs     float64 `json:"redis_jitter_ms"`
}

// NetworkOf is the Network of a run with these settings; nil when it
// added nothing.
func NetworkOf(upstreamLatency, upstreamJitter, redisLatency, redisJitter time.Duration) *Network {
	if upstreamLatency == 0 && upstreamJitter == 0 && redisLatency == 0 && redisJitter == 0 {
		return nil
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return &Network{
		UpstreamLatencyMs: ms(upstreamLatency), UpstreamJitterMs: ms(upstreamJitter),
		RedisLatencyMs: ms(redisLatency), RedisJitterMs: ms(redisJitter),
	}
}

// renderNetwork writes the settings' line on added latency, if any.
func renderNetwork(b *strings.Builder, n *Network) {
	if n == nil {
		return
	}
	link := func(name string, lat, jit float64) string {
		if lat == 0 && jit == 0 {
			return name + " none"
		}
		return fmt.Sprintf("%s +%s ms ± %s ms", name, num(lat), num(jit))
	}
	fmt.Fprintf(b, "Network latency added (in-process toxiproxy, per round trip): %s; %s.\n\n",
		link("lb↔gateway", n.UpstreamLatencyMs, n.UpstreamJitterMs), link("gateway↔Redis", n.RedisLatencyMs, n.RedisJitterMs))
}
