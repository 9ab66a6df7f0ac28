package paired

import (
	"math"
	"strings"
	"testing"

	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/bench/stats"
)

// fixedRounds builds rounds in which the machine drifts (the control's p50
// is 1.0, 1.4, 0.8 ms) while each pool keeps a fixed factor over it,
// second by second, with a small deterministic wobble.
func fixedRounds(factors map[string]float64, drift ...float64) ([]report.PairedRound, []report.PoolInfo) {
	if len(drift) == 0 {
		drift = []float64{1.0, 1.4, 0.8}
	}
	names := []string{"none", "none-b", "jwt", "opaque", "sticky"}
	strategy := map[string]string{"none": "none", "none-b": "none", "jwt": "jwt", "opaque": "opaque", "sticky": "sticky"}
	var pools []report.PoolInfo
	for _, n := range names {
		pools = append(pools, report.PoolInfo{Pool: n, Strategy: strategy[n]})
	}
	var rounds []report.PairedRound
	for r, d := range drift {
		round := report.PairedRound{Round: r + 1}
		for k, n := range names {
			f := factors[n]
			secs := make([]float64, 10)
			for s := range secs {
				wobble := 1 + 0.01*float64((s*7+k*3+r)%5-2) // ±2%
				secs[s] = d * f * wobble
			}
			round.Pools = append(round.Pools, report.PoolRound{Pool: n, Strategy: strategy[n], Requests: 1000,
				Latency:     report.Percentiles{P50: d * f, P90: 2 * d * f, P99: 4 * d * f},
				SecondP50Ms: secs})
		}
		rounds = append(rounds, round)
	}
	return rounds, pools
}

func TestSummarizeRatiosArePairedPerRound(t *testing.T) {
	rounds, pools := fixedRounds(map[string]float64{"none": 1, "none-b": 1.005, "jwt": 1.25, "opaque": 0.99, "sticky": 0.6})
	sum, warnings := Summarize(rounds, pools, "none", "none-b", Options{Seed: 1, Resamples: 500})
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	// Per round: the drift cancels, each ratio is the factor.
	for _, r := range rounds {
		for _, rr := range r.Ratios {
			want := map[string]float64{"none-b": 1.005, "jwt": 1.25, "opaque": 0.99, "sticky": 0.6}[rr.Pool]
			if math.Abs(rr.P50-want) > 1e-9 || math.Abs(rr.P99-want) > 1e-9 {
				t.Errorf("round %d %s: ratio p50 %v p99 %v, want %v", r.Round, rr.Pool, rr.P50, rr.P99, want)
			}
		}
		if len(r.Ratios) != 4 {
			t.Errorf("round %d: %d ratios, want 4 (every pool but the control)", r.Round, len(r.Ratios))
		}
	}
	// The absolute p50 of the control moves with the machine; its median
	// over rounds is the middle one.
	ctrl := sum.Pool("none")
	if ctrl == nil || ctrl.P50Ms.Est != 1.0 || ctrl.RatioP50 != nil || ctrl.Rounds != 3 {
		t.Fatalf("control summary = %+v", ctrl)
	}
	if sum.AA.Pool != "none-b" || sum.Pool("none-b") != nil {
		t.Errorf("A/A pool summarised as %q, and listed among pools: %v", sum.AA.Pool, sum.Pool("none-b") != nil)
	}
	if f := sum.NoiseFloor.P50; f < DefaultMinNoiseFloor || f > 0.05 {
		t.Errorf("noise floor p50 = %v, want ≥ the minimum and small", f)
	}
	if v := sum.AA.RatioP50.Verdict; v != stats.WithinNoise {
		t.Errorf("A/A verdict = %s", v)
	}
	tests := []struct {
		pool    string
		est     float64
		verdict stats.Verdict
	}{
		{"jwt", 1.25, stats.Slower},
		{"opaque", 0.99, stats.WithinNoise},
		{"sticky", 0.6, stats.Faster},
	}
	for _, tc := range tests {
		p := sum.Pool(tc.pool)
		if p == nil || p.RatioP50 == nil {
			t.Fatalf("no summary of %s", tc.pool)
		}
		if math.Abs(p.RatioP50.Est-tc.est) > 0.02 || p.RatioP50.Verdict != tc.verdict || p.RatioP50.N != 30 {
			t.Errorf("%s: ratio p50 %+v, want ≈ %v %s over 30 seconds", tc.pool, p.RatioP50, tc.est, tc.verdict)
		}
		// Three rounds are too few for a per-round interval's verdict.
		if p.RatioP99.Verdict != stats.Unknown || p.RatioP99.N != 3 || p.RatioP99.Method != report.MethodRounds ||
			!strings.Contains(p.RatioP99.Label(), "too few") {
			t.Errorf("%s: ratio p99 %+v (%s), want no verdict from 3 rounds", tc.pool, p.RatioP99, p.RatioP99.Label())
		}
	}
	// Five rounds are enough.
	rounds, pools = fixedRounds(map[string]float64{"none": 1, "none-b": 1.005, "jwt": 1.25, "opaque": 0.99, "sticky": 0.6}, 1, 1.4, 0.8, 1.1, 0.9)
	sum, _ = Summarize(rounds, pools, "none", "none-b", Options{Seed: 1, Resamples: 500})
	for _, tc := range tests {
		if p := sum.Pool(tc.pool); p.RatioP99.Verdict != tc.verdict || p.RatioP99.N != 5 {
			t.Errorf("%s over 5 rounds: ratio p99 %+v, want %s", tc.pool, p.RatioP99, tc.verdict)
		}
	}
}

// TestNeverFasterWithoutLabel: a ratio below 1 is rendered with its label,
// whatever its verdict, and "faster" always says it is suspicious.
func TestNeverFasterWithoutLabel(t *testing.T) {
	rounds, pools := fixedRounds(map[string]float64{"none": 1, "none-b": 1, "jwt": 0.97, "opaque": 0.99, "sticky": 0.6})
	sum, _ := Summarize(rounds, pools, "none", "none-b", Options{Seed: 2, Resamples: 300})
	for _, p := range sum.Pools {
		if p.RatioP50 == nil || p.RatioP50.Est >= 1 {
			continue
		}
		l := p.RatioP50.Label()
		switch p.RatioP50.Verdict {
		case stats.Faster:
			if !strings.Contains(l, "faster than the control") || !strings.Contains(l, "suspicious") {
				t.Errorf("%s: faster without its warning: %q", p.Pool, l)
			}
		case stats.WithinNoise:
			if !strings.Contains(l, "within noise") {
				t.Errorf("%s: below 1 without its label: %q", p.Pool, l)
			}
		default:
			t.Errorf("%s: verdict %s for %v", p.Pool, p.RatioP50.Verdict, p.RatioP50.Interval)
		}
	}
	if v := sum.Pool("jwt").RatioP50.Verdict; v != stats.WithinNoise {
		t.Errorf("3%% faster than the control with a 2%%+ floor: %s, want within noise", v)
	}
}

// TestSummarizeNoiseFloorFromAA: a wide A/A spread raises the floor, and a
// difference inside it is within noise even when its interval excludes 1.
func TestSummarizeNoiseFloorFromAA(t *testing.T) {
	rounds, pools := fixedRounds(map[string]float64{"none": 1, "none-b": 1.08, "jwt": 1.06, "opaque": 1, "sticky": 1.3})
	sum, warnings := Summarize(rounds, pools, "none", "none-b", Options{Seed: 3, Resamples: 300})
	if f := sum.NoiseFloor.P50; f < 0.08 {
		t.Errorf("floor %v, want at least the A/A's 8%%", f)
	}
	jwt := sum.Pool("jwt").RatioP50
	if jwt.Contains(1) || jwt.Verdict != stats.WithinNoise {
		t.Errorf("jwt %+v: want an interval excluding 1 yet within noise", jwt)
	}
	if v := sum.Pool("sticky").RatioP50.Verdict; v != stats.Slower {
		t.Errorf("sticky 1.3 over a 0.08 floor: %s", v)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "A/A pair") {
		t.Errorf("warnings = %v, want the A/A pair's", warnings)
	}
}

func TestSummarizeWithoutAA(t *testing.T) {
	rounds, pools := fixedRounds(map[string]float64{"none": 1, "none-b": 1, "jwt": 1.5, "opaque": 1, "sticky": 1})
	for i := range rounds {
		rounds[i].Pools = rounds[i].Pools[:1:1]
		rounds[i].Pools = append(rounds[i].Pools, report.PoolRound{Pool: "jwt", Strategy: "jwt", Requests: 10,
			Latency: report.Percentiles{P50: 1.5, P90: 3, P99: 6}, SecondP50Ms: []float64{1.5, 1.5}})
	}
	sum, warnings := Summarize(rounds, []report.PoolInfo{pools[0], pools[2]}, "none", "none-b", Options{Seed: 4, Resamples: 100})
	if v := sum.Pool("jwt").RatioP50.Verdict; v != stats.Unknown {
		t.Errorf("verdict without an A/A pair = %s, want unknown", v)
	}
	if len(warnings) == 0 {
		t.Error("no warning about the missing A/A pair")
	}
}

// TestOneRoundGivesNoVerdict: the per-second p50 ratio of a single round
// (its seconds share one placement and are not independent) gets no
// verdict, however clear the difference; two rounds do.
func TestOneRoundGivesNoVerdict(t *testing.T) {
	factors := map[string]float64{"none": 1, "none-b": 1.005, "jwt": 1.5, "opaque": 1, "sticky": 1}
	for _, tc := range []struct {
		drift []float64
		want  stats.Verdict
	}{
		{[]float64{1}, stats.Unknown},
		{[]float64{1, 1.2}, stats.Slower},
	} {
		rounds, pools := fixedRounds(factors, tc.drift...)
		sum, _ := Summarize(rounds, pools, "none", "none-b", Options{Seed: 1, Resamples: 500})
		if got := sum.Pool("jwt").RatioP50.Verdict; got != tc.want {
			t.Errorf("%d round(s): jwt verdict %q, want %q", len(tc.drift), got, tc.want)
		}
	}
}
