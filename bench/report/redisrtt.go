package report

import (
	"fmt"
	"strings"
)

// RedisRTT is what the redis-rtt scenario saw: one short load step per
// round trip added between the gateways and Redis.
type RedisRTT struct {
	// Method says how the round trip was added.
	Method string `json:"method"`
	// NoiseMs is the p50 change read as noise (for strategies that use no
	// Redis on the request path).
	NoiseMs float64   `json:"noise_ms"`
	Steps   []RTTStep `json:"steps"`
}

// RTTStep is one step of redis-rtt.
type RTTStep struct {
	// AddedRTTMs is the round trip added to every Redis exchange.
	AddedRTTMs float64     `json:"added_rtt_ms"`
	DurationS  float64     `json:"duration_s"`
	Requests   int         `json:"requests"`
	OK         int         `json:"ok"`
	Latency    Percentiles `json:"latency"`
	Errors     Errors      `json:"errors"`
	// RedisCommandsPerRequest is nil when Redis was not measured.
	RedisCommandsPerRequest *float64 `json:"redis_commands_per_request"`
	// P50GrowthMs is this step's p50 minus the first step's.
	P50GrowthMs float64 `json:"p50_growth_ms"`
	// ExpectedGrowthMs is the physics line: Redis commands per request ×
	// added round trip (an upper estimate: pipelined commands share a
	// round trip); nil when the commands were not counted.
	ExpectedGrowthMs *float64 `json:"expected_growth_ms"`
	// Expect is what physics demands of the p50 at this step: "≥ 1 RTT"
	// (every request touches Redis), "within noise" (none does), or ""
	// (baseline, or some requests do: no demand).
	Expect string `json:"expect,omitempty"`
	// Holds says whether the observed growth met Expect (nil: no demand).
	Holds *bool `json:"holds,omitempty"`
}

// RedisHang is what the redis-hang scenario saw: the gateways cut off
// from Redis by a network that holds packets (connections hang, nothing
// is refused), then healed.
type RedisHang struct {
	CutAtS  float64 `json:"cut_at_s"`
	HealAtS float64 `json:"heal_at_s"`
	// RedisTimeoutMs is the gateway's per-attempt Redis timeout and
	// RedisAttempts the attempts per command (1 + retries).
	RedisTimeoutMs float64 `json:"redis_timeout_ms"`
	RedisAttempts  int     `json:"redis_attempts"`
	// HangThresholdMs: a request slower than this, or without any answer,
	// hung.
	HangThresholdMs float64 `json:"hang_threshold_ms"`
	// DuringRequests were sent while the cut lasted; DuringOK succeeded;
	// DuringErrors failed, by class.
	DuringRequests int    `json:"during_requests"`
	DuringOK       int    `json:"during_ok"`
	DuringErrors   Errors `json:"during_errors"`
	// Hung: requests sent during the cut that took longer than the hang
	// threshold or got no answer (transport errors included).
	Hung int `json:"hung"`
	// FirstStoreDownAfterMs: from the cut until the first 503 answered by
	// a gateway arrived (nil: none did).
	FirstStoreDownAfterMs *float64 `json:"first_store_down_after_ms"`
	// StoreDownLatency: how long the 503s sent during the cut took to
	// come back (the time to answer 503).
	StoreDownLatency Percentiles `json:"store_down_latency"`
	// DuringLatency: every request sent during the cut.
	DuringLatency Percentiles `json:"during_latency"`
	// RecoveryS: from the heal until ≥ 99% success for 5 s; nil if never.
	RecoveryS *float64 `json:"recovery_s"`
	// Verdict says what the numbers mean against the expected physics.
	Verdict string `json:"verdict"`
}

// renderNetConditions writes the redis-rtt and redis-hang findings of
// report.md.
func renderNetConditions(b *strings.Builder, s *Scenario) {
	if r := s.RedisRTT; r != nil {
		renderRedisRTT(b, s.Name, r)
	}
	if h := s.RedisHang; h != nil {
		renderRedisHang(b, h)
	}
}

func renderRedisRTT(b *strings.Builder, name string, r *RedisRTT) {
	fmt.Fprintf(b, "**Redis round trip.** %s The load numbers above are the first step's (nothing added).\n\n", r.Method)
	b.WriteString("| added RTT ms | requests | errors | p50 ms | p99 ms | Redis cmds/req | p50 growth ms | physics line ms | expect | holds |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, st := range r.Steps {
		holds := "–"
		if st.Holds != nil {
			holds = fmt.Sprint(*st.Holds)
		}
		fmt.Fprintf(b, "| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s |\n", num(st.AddedRTTMs), st.Requests, st.Errors.Total(),
			num(st.Latency.P50), num(st.Latency.P99), optNum(st.RedisCommandsPerRequest), num(st.P50GrowthMs),
			optNum(st.ExpectedGrowthMs), orText(st.Expect, "–"), holds)
	}
	fmt.Fprintf(b, "\nPhysics line: Redis commands per request × added RTT (pipelined commands share a round trip, so it is an upper estimate). A strategy touching Redis on every request must grow by at least one RTT; one that never does must stay within noise (±%s ms here).\n\n", num(r.NoiseMs))
	fmt.Fprintf(b, "![%s: p50 and p99 against the added Redis round trip](%s)\n\n", name, RedisRTTChartFile)
}

func renderRedisHang(b *strings.Builder, h *RedisHang) {
	fmt.Fprintf(b, "**Redis hang.** Every gateway cut off from Redis at %s s by a network that holds the packets (connections hang; nothing is refused, unlike a Redis crash), healed at %s s. The gateway's Redis timeout: %s ms × %d attempts.\n\n",
		num(h.CutAtS), num(h.HealAtS), num(h.RedisTimeoutMs), h.RedisAttempts)
	e := h.DuringErrors
	b.WriteString("| measure | value |\n|---|---|\n")
	fmt.Fprintf(b, "| requests sent during the cut | %d (%d OK) |\n", h.DuringRequests, h.DuringOK)
	fmt.Fprintf(b, "| errors by class | %d 503 from a gateway, %d other 5xx (lb), %d transport, %d 401, %d other |\n",
		e.StoreDown, e.Server, e.Transport, e.SessionLost+e.Unauthorized, e.Other)
	fmt.Fprintf(b, "| hung (> %s ms or no answer) | %d |\n", num(h.HangThresholdMs), h.Hung)
	first := "none"
	if h.FirstStoreDownAfterMs != nil {
		first = num(*h.FirstStoreDownAfterMs) + " ms"
	}
	fmt.Fprintf(b, "| first gateway 503 after the cut | %s |\n", first)
	fmt.Fprintf(b, "| time to answer 503 | %s |\n", lagTextOr(h.StoreDownLatency, "no 503"))
	fmt.Fprintf(b, "| latency of every request during the cut | %s |\n", lagTextOr(h.DuringLatency, "none sent"))
	fmt.Fprintf(b, "| time to recover after the heal (≥ 99%% success for 5 s) | %s |\n\n", secondsText(h.RecoveryS))
	fmt.Fprintf(b, "%s\n\n", h.Verdict)
}

func lagTextOr(p Percentiles, none string) string {
	if p.Count == 0 {
		return none
	}
	return fmt.Sprintf("p50 %s ms, p99 %s ms, max %s ms (%d)", num(p.P50), num(p.P99), num(p.Max), p.Count)
}
