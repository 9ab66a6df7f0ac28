package bench

import (
	"context"
	"github.com/authlab/authlab/internal/redisx/redisserver"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/internal/e2e"
	"github.com/authlab/authlab/bench/scenario"
	"github.com/authlab/authlab/bench/topology"
)

func TestRedisNetConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want *topology.RedisNet
	}{
		{"nothing asked", Config{Scenarios: []string{scenario.SteadyName}}, nil},
		{"latency asked", Config{RedisLatency: time.Millisecond, RedisJitter: 200 * time.Microsecond},
			&topology.RedisNet{Latency: time.Millisecond, Jitter: 200 * time.Microsecond}},
		{"latency with a cluster: passed on (the topology refuses it)", Config{RedisLatency: time.Millisecond, RedisDeployment: topology.RedisCluster},
			&topology.RedisNet{Latency: time.Millisecond}},
		{"redis-rtt on a single Redis", Config{Scenarios: []string{scenario.RedisRTTName}}, &topology.RedisNet{}},
		{"redis-hang on a cluster: none (the scenario skips)", Config{Scenarios: []string{scenario.RedisHangName}, RedisDeployment: topology.RedisCluster}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cfg.redisNet()
			if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
				t.Fatalf("redisNet() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestUpstreamNetConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want *topology.UpstreamNet
	}{
		{"nothing asked", Config{RedisLatency: time.Millisecond}, nil},
		{"latency asked", Config{UpstreamLatency: 2 * time.Millisecond, UpstreamJitter: 200 * time.Microsecond},
			&topology.UpstreamNet{Latency: 2 * time.Millisecond, Jitter: 200 * time.Microsecond}},
		{"negative: passed on (the topology refuses it)", Config{UpstreamLatency: -time.Millisecond},
			&topology.UpstreamNet{Latency: -time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cfg.upstreamNet()
			if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
				t.Fatalf("upstreamNet() = %+v, want %+v", got, tc.want)
			}
			if rn := tc.cfg.topologyConfig(nil).RedisNet; tc.cfg.RedisLatency == 0 && rn != nil {
				t.Errorf("an upstream latency gave the gateways a Redis proxy %+v: the two are independent", rn)
			}
		})
	}
}

// TestRunTargetRefusesUpstreamLatency: the proxies stand before gateways
// the harness's lb starts; a target's are its own.
func TestRunTargetRefusesUpstreamLatency(t *testing.T) {
	_, _, err := RunTarget(context.Background(), Config{Strategy: "jwt", UpstreamLatency: time.Millisecond}, TargetConfig{Password: "x"})
	if err == nil || !strings.Contains(err.Error(), "upstream latency") {
		t.Fatalf("RunTarget with an upstream latency: %v, want a refusal", err)
	}
}

// TestEndToEndRedisRTT: with 2 ms added to every Redis round trip,
// redis-session (a Redis read on every request) cannot answer faster than
// 2 ms, so that step's p50 is at least the RTT. The growth over the first
// step is not asserted: on a loaded machine the first step's p50 alone
// can exceed it (seen: 12 ms at load average 14 on 2 cores); the reports
// judge the growth. No upper bound (speed targets belong in the reports).
func TestEndToEndRedisRTT(t *testing.T) {
	exe := e2e.Binary(t) // skips under -short
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const rtt = 2 * time.Millisecond
	r, dir, err := Run(ctx, Config{
		Strategy: "redis-session", Scenarios: []string{scenario.RedisRTTName}, Rate: 100, Duration: 5 * time.Second,
		Users: 30, Instances: 2, Exe: exe, OutDir: t.TempDir(), RedisRTTSteps: []time.Duration{0, rtt},
	})
	if err != nil {
		t.Fatalf("Run: %v (topology log in %s)", err, dir)
	}
	if left := e2e.Leftovers(exe); len(left) > 0 {
		t.Errorf("processes left after the run: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "redis-rtt.png")); err != nil {
		t.Errorf("no chart: %v", err)
	}
	s := r.Scenario(scenario.RedisRTTName)
	if s == nil || s.RedisRTT == nil || len(s.RedisRTT.Steps) != 2 {
		t.Fatalf("redis-rtt result: %+v", s)
	}
	steps := s.RedisRTT.Steps
	for _, st := range steps {
		if st.Requests == 0 || st.Errors.Total() > st.Requests/100 {
			t.Errorf("step %v ms: %d requests, %d errors", st.AddedRTTMs, st.Requests, st.Errors.Total())
		}
	}
	// The embedded fallback (no redis-server on this machine) keeps no
	// command statistics: the harness reports none rather than a guess.
	if c := steps[1].RedisCommandsPerRequest; r.Environment.RedisKind == redisserver.KindEmbedded {
		if c != nil {
			t.Errorf("embedded Redis: %v commands per request reported, want none (it keeps no statistics)", *c)
		}
	} else if c == nil || *c < 1 {
		t.Errorf("redis-session: %v Redis commands per request, want ≥ 1", c)
	}
	if p50 := steps[1].Latency.P50; p50 < float64(rtt)/1e6 {
		t.Errorf("p50 %.3f ms with %s added to every Redis round trip, want ≥ the RTT", p50, rtt)
	}
}
