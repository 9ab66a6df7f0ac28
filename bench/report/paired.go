package report

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/authlab/authlab/bench/stats"
)

// PairedSchemaVersion is the version of the paired.json layout; it
// changes when a field changes meaning or disappears.
const PairedSchemaVersion = 1

// Paired run files, written into results/paired/<run-id>/.
const (
	PairedDir        = "paired"
	PairedJSONFile   = "paired.json"
	PairedMDFile     = "paired.md"
	PairedRatioChart = "paired-ratios.png"
	PairedRoundChart = "paired-rounds.png"
)

// PairedRun is one paired comparison (`authlab bench --strategy a,b,…`):
// every strategy's pool, plus a second control pool (the A/A pair), run at
// the same moment, in rounds on fresh topologies.
type PairedRun struct {
	SchemaVersion int       `json:"schema_version"`
	RunID         string    `json:"run_id"`
	StartedAt     time.Time `json:"started_at"`
	FinishedAt    time.Time `json:"finished_at"`

	Settings    PairedSettings `json:"settings"`
	Environment Environment    `json:"environment"`

	// ControlPool is the pool every ratio divides by; AAPool is the second
	// pool of the control strategy, whose ratio to ControlPool is the
	// noise floor.
	ControlPool string     `json:"control_pool"`
	AAPool      string     `json:"aa_pool"`
	Pools       []PoolInfo `json:"pools"`

	Rounds  []PairedRound `json:"rounds"`
	Summary PairedSummary `json:"summary"`
	// Warnings say why numbers may not be trusted.
	Warnings []string `json:"warnings,omitempty"`
}

// PairedSettings are the knobs of a paired run.
type PairedSettings struct {
	Strategies []string `json:"strategies"`
	Rounds     int      `json:"rounds"`
	// RatePerPool is each pool's rate; the attack's total is RatePerPool
	// × pools.
	RatePerPool float64 `json:"rate_per_pool"`
	TotalRate   float64 `json:"total_rate"`
	DurationS   float64 `json:"duration_s"`
	// WarmupS is an unmeasured load phase before each round's window.
	WarmupS      float64 `json:"warmup_s"`
	UsersPerPool int     `json:"users_per_pool"`
	Instances    int     `json:"instances_per_pool"`
	BcryptCost   int     `json:"bcrypt_cost"`
	Path         string  `json:"path"`
	// Interleave says how requests are spread over the pools.
	Interleave string `json:"interleave"`
	// Seed of the interleaving and of the bootstrap (recomputable).
	Seed          uint64  `json:"seed"`
	Resamples     int     `json:"bootstrap_resamples"`
	Level         float64 `json:"confidence_level"`
	MinNoiseFloor float64 `json:"min_noise_floor"`
	// Network is the latency added to every pool's lb↔gateway link; nil
	// when none was.
	Network *Network          `json:"network,omitempty"`
	Flags   map[string]string `json:"flags,omitempty"`
}

// PoolInfo describes one pool.
type PoolInfo struct {
	Pool      string `json:"pool"`
	Strategy  string `json:"strategy"`
	Policy    string `json:"policy"`
	Instances int    `json:"instances"`
}

// PairedRound is one round: a fresh topology, every pool loaded at once.
type PairedRound struct {
	Round     int         `json:"round"`
	StartedAt time.Time   `json:"started_at"`
	Pools     []PoolRound `json:"pools"`
	// Ratios are each pool's latency over the control pool's in this
	// round (every pool but the control).
	Ratios   []RoundRatio `json:"ratios"`
	Warnings []string     `json:"warnings,omitempty"`
}

// PoolRound is what one pool saw in one round.
type PoolRound struct {
	Pool          string      `json:"pool"`
	Strategy      string      `json:"strategy"`
	RequestedRate float64     `json:"requested_rate"`
	AchievedRate  float64     `json:"achieved_rate"`
	Requests      int         `json:"requests"`
	OK            int         `json:"ok"`
	Errors        Errors      `json:"errors"`
	Latency       Percentiles `json:"latency"`
	// SecondP50Ms is the p50 of each second of the window (by intended
	// send time): the blocks the per-second paired ratios are built from.
	SecondP50Ms     []float64 `json:"second_p50_ms"`
	CredentialBytes float64   `json:"credential_bytes_per_request"`
	SessionsLost    int       `json:"sessions_lost"`
	// GatewayCPUPerRequestUs is the pool's gateways' CPU over the window
	// per request (gross: idle cost included).
	GatewayCPUPerRequestUs float64 `json:"gateway_cpu_us_per_request"`
	// Load says whether the load generator kept up with this pool's share
	// (its CPU is the whole generator's: one attack served every pool).
	Load     *LoadHealth `json:"load,omitempty"`
	Warnings []string    `json:"warnings,omitempty"`
}

// RoundRatio is one pool's latency percentiles over the control pool's,
// within one round.
type RoundRatio struct {
	Pool     string  `json:"pool"`
	Strategy string  `json:"strategy"`
	P50      float64 `json:"p50"`
	P90      float64 `json:"p90"`
	P99      float64 `json:"p99"`
}

// PairedSummary summarises the rounds.
type PairedSummary struct {
	// Method says how the intervals were computed.
	Method string `json:"method"`
	// NoiseFloor is, per measure, how far from 1.0 the A/A pair's ratio
	// interval reached (at least the run's minimum floor).
	NoiseFloor NoiseFloors `json:"noise_floor"`
	// AA is the A/A pool against the control pool.
	AA PoolSummary `json:"aa"`
	// Pools are every pool but the control's A/A twin, in order; the
	// control pool's own has no ratios.
	Pools []PoolSummary `json:"pools"`
}

// NoiseFloors are the A/A spreads of each ratio.
type NoiseFloors struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

// PoolSummary is one pool over the rounds.
type PoolSummary struct {
	Pool     string `json:"pool"`
	Strategy string `json:"strategy"`
	Rounds   int    `json:"rounds"`
	// Absolute latency: the median over rounds of each round's percentile,
	// with its bootstrap interval.
	P50Ms stats.Interval `json:"p50_ms"`
	P90Ms stats.Interval `json:"p90_ms"`
	P99Ms stats.Interval `json:"p99_ms"`
	// Ratios to the control pool (nil for the control pool itself).
	// RatioP50 is the headline: per-second paired ratios of p50, summarised
	// by a two-level bootstrap (rounds, then seconds within a round).
	// RatioP50Rounds, RatioP90 and RatioP99 are the per-round ratios,
	// summarised by their median over rounds with a bootstrap interval.
	RatioP50       *Ratio `json:"ratio_p50,omitempty"`
	RatioP50Rounds *Ratio `json:"ratio_p50_rounds,omitempty"`
	RatioP90       *Ratio `json:"ratio_p90,omitempty"`
	RatioP99       *Ratio `json:"ratio_p99,omitempty"`
}

// Ratio methods.
const (
	// MethodSeconds: per-second paired ratios, two-level bootstrap.
	MethodSeconds = "seconds"
	// MethodRounds: per-round paired ratios, median over rounds.
	MethodRounds = "rounds"
)

// Ratio is a ratio to the control with its interval and its label.
type Ratio struct {
	stats.Interval
	// Method is "seconds" (hierarchical over per-second blocks) or
	// "rounds" (median over per-round ratios).
	Method string `json:"method"`
	// NoiseFloor is the A/A spread it was judged against.
	NoiseFloor float64 `json:"noise_floor"`
	// Verdict is slower, faster, "within noise" or unknown; only slower
	// and faster are findings.
	Verdict stats.Verdict `json:"verdict"`
}

// Label is the ratio as a reader sees it: the estimate, its interval and
// its verdict, always together ("1.12× [1.08, 1.17] slower", "0.97× [0.93,
// 1.01] within noise"). A ratio below 1 never appears without its label,
// and a "faster" finding is marked as suspicious.
func (r Ratio) Label() string {
	if !r.Valid() {
		return "– (not measured)"
	}
	s := strings.Replace(RatioText(r.Interval), " [", "× [", 1)
	switch r.Verdict {
	case stats.Slower:
		return s + " **slower** (finding)"
	case stats.Faster:
		return s + " **faster than the control** (finding, suspicious: a strategy doing more work should not be faster; check the A/A pair and re-run)"
	case stats.WithinNoise:
		return s + " within noise"
	default:
		if r.Method == MethodRounds && r.NoiseFloor > 0 {
			return s + fmt.Sprintf(" no verdict (%d rounds: too few for this interval)", r.N)
		}
		return s + " no verdict (no noise floor)"
	}
}

// RatioText formats a ratio's interval with three decimals: "1.120 [1.080,
// 1.170]" ("–" when invalid).
func RatioText(i stats.Interval) string {
	if !i.Valid() {
		return "–"
	}
	return fmt.Sprintf("%.3f [%.3f, %.3f]", i.Est, i.Lo, i.Hi)
}

// IntervalText formats an interval of a measure with num: "1.24 [1.11, 1.38]".
func IntervalText(i stats.Interval) string {
	if !i.Valid() {
		return "–"
	}
	return fmt.Sprintf("%s [%s, %s]", num(i.Est), num(i.Lo), num(i.Hi))
}

// WriteJSON writes p as indented JSON to path.
func (p *PairedRun) WriteJSON(path string) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encode paired run: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write paired run: %w", err)
	}
	return nil
}

// ReadPairedJSON reads a paired.json, refusing an unknown schema version.
func ReadPairedJSON(path string) (*PairedRun, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read paired run: %w", err)
	}
	var p PairedRun
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode paired run %s: %w", path, err)
	}
	if p.SchemaVersion != PairedSchemaVersion {
		return nil, fmt.Errorf("paired run %s: schema_version %d, this authlab reads %d", path, p.SchemaVersion, PairedSchemaVersion)
	}
	return &p, nil
}

// Pool returns the summary of pool name, or nil.
func (s *PairedSummary) Pool(name string) *PoolSummary {
	for i := range s.Pools {
		if s.Pools[i].Pool == name {
			return &s.Pools[i]
		}
	}
	return nil
}
