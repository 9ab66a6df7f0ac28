package scale

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/authlab/authlab/bench"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/internal/identity"
)

// Result is a finished scale run (scale.json).
type Result struct {
	ID          string             `json:"id"`
	Started     time.Time          `json:"started"`
	Environment report.Environment `json:"environment"`
	Sizes       []int              `json:"sizes"`
	BcryptCost  int                `json:"bcrypt_cost"`
	GatewayArgs []string           `json:"gateway_args"`
	Probe       ProbeConfig        `json:"probe"`
	Storm       StormSettings      `json:"storm"`
	// Minting says how the sessions were made (the preload path).
	Minting    string           `json:"minting"`
	Strategies []StrategyResult `json:"strategies"`
}

// StormSettings are the storm's settings as recorded.
type StormSettings struct {
	Rates []float64 `json:"rates"`
	StepS float64   `json:"step_s"`
	P99Ms float64   `json:"p99_bound_ms"`
}

func stormSettings(c StormConfig) StormSettings {
	return StormSettings{Rates: c.Rates, StepS: c.Step.Seconds(), P99Ms: ms(c.P99)}
}

// StrategyResult is one strategy's series.
type StrategyResult struct {
	Strategy   string `json:"strategy"`
	StateLives string `json:"state_lives"`
	RedisKind  string `json:"redis_kind"`
	// BaseHeapBytes and BaseRedisBytes are read before any session.
	BaseHeapBytes  int64   `json:"base_heap_bytes"`
	BaseRedisBytes int64   `json:"base_redis_bytes"`
	Points         []Point `json:"points"`
	Storm          *Storm  `json:"storm,omitempty"`
	Error          string  `json:"error,omitempty"`
}

// Point is one size of one strategy.
type Point struct {
	Sessions       int     `json:"sessions"`
	PreloadSeconds float64 `json:"preload_s"`
	// PreloadFailed counts the preloads that failed so far (this size and
	// the smaller ones).
	PreloadFailed int `json:"preload_failed"`
	// HeapBytes is the gateway's live heap after a forced GC; RedisBytes
	// Redis's used_memory (0 when the strategy does not use Redis).
	HeapBytes  int64 `json:"heap_bytes"`
	RedisBytes int64 `json:"redis_bytes"`
	// HeapPerSession and RedisPerSession are the growth since the
	// baseline divided by the live sessions.
	HeapPerSession  float64 `json:"heap_per_session_bytes"`
	RedisPerSession float64 `json:"redis_per_session_bytes"`
	// HeapEstimate and RedisEstimate are the back-of-envelope estimates
	// (nil: none written, or the store keeps nothing there).
	HeapEstimate  *float64 `json:"heap_estimate_bytes,omitempty"`
	RedisEstimate *float64 `json:"redis_estimate_bytes,omitempty"`
	Probe         *Probe   `json:"probe,omitempty"`
}

// Probe is the /api/me probe at one size.
type Probe struct {
	Requests int `json:"requests"`
	Errors   int `json:"errors"`
	// ErrorsByClass counts the errors by status code, or "timeout" or
	// "no answer".
	ErrorsByClass map[string]int `json:"errors_by_class,omitempty"`
	Achieved      float64        `json:"achieved_rps"`
	P50Ms         float64        `json:"p50_ms"`
	P99Ms         float64        `json:"p99_ms"`
	Distinct      int            `json:"distinct_users"`
	// CacheHitRatio is the gateway cache's hits / lookups during the
	// probe (opaque only).
	CacheHitRatio *float64 `json:"cache_hit_ratio,omitempty"`
}

// Storm is the login storm after a restart.
type Storm struct {
	// After is what came before it ("restart of the gateway").
	After string      `json:"after"`
	Steps []StormStep `json:"steps"`
	// MaxRate is the highest rate that kept within the bound (0: none).
	MaxRate float64 `json:"max_rate"`
	P99Ms   float64 `json:"p99_bound_ms"`
}

// StormStep is one rate of the storm.
type StormStep struct {
	Rate     float64 `json:"rate"`
	Achieved float64 `json:"achieved_rps"`
	Logins   int     `json:"logins"`
	Failed   int     `json:"failed"`
	// FailedByClass counts the failed logins by status code, or "timeout"
	// or "no answer".
	FailedByClass map[string]int `json:"failed_by_class,omitempty"`
	P50Ms         float64        `json:"p50_ms"`
	P99Ms         float64        `json:"p99_ms"`
	// Within: p99 within the bound, ≤ 1 % failed, ≥ 95 % of the rate.
	Within bool `json:"within"`
}

func (p Point) line() string {
	s := fmt.Sprintf("preload %.1fs, heap %s/session", p.PreloadSeconds, bytesPer(p.HeapPerSession))
	if p.HeapEstimate != nil {
		s += fmt.Sprintf(" (estimate %s)", bytesPer(*p.HeapEstimate))
	}
	if p.RedisBytes != 0 {
		s += fmt.Sprintf(", Redis %s/session", bytesPer(p.RedisPerSession))
		if p.RedisEstimate != nil {
			s += fmt.Sprintf(" (estimate %s)", bytesPer(*p.RedisEstimate))
		}
	}
	return s
}

func (p *Probe) line() string {
	s := fmt.Sprintf("/api/me p50 %.2f ms p99 %.2f ms, %s errors, %d distinct users", p.P50Ms, p.P99Ms, classes(p.Errors, p.ErrorsByClass), p.Distinct)
	if p.CacheHitRatio != nil {
		s += fmt.Sprintf(", cache hits %.1f%%", 100**p.CacheHitRatio)
	}
	return s
}

func (s *Storm) line() string {
	return fmt.Sprintf("%s logins/s within p99 ≤ %.0f ms (%d steps)", s.maxText(), s.P99Ms, len(s.Steps))
}

// maxText is MaxRate, "≥ r" when every rate tried kept within the bound
// (the limit lies beyond the last).
func (s *Storm) maxText() string {
	if len(s.Steps) > 0 && s.Steps[len(s.Steps)-1].Within {
		return fmt.Sprintf("≥ %.0f", s.MaxRate)
	}
	return fmt.Sprintf("%.0f", s.MaxRate)
}

// classes writes n and, when there are any, its classes: "3 (503: 2, timeout: 1)".
func classes(n int, by map[string]int) string {
	if n == 0 || len(by) == 0 {
		return fmt.Sprint(n)
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(by)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, by[k]))
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(parts, ", "))
}

func bytesPer(b float64) string { return fmt.Sprintf("%.0f B", b) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// seedName is the name of seeded user n (its length sizes the estimates).
func seedName(n int) string { return identity.SeedUsername(n) }

func environment(ctx context.Context) report.Environment { return bench.CaptureEnvironment(ctx) }
