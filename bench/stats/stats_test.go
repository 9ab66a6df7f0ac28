package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

func TestQuantile(t *testing.T) {
	s := []float64{1, 2, 3, 4, 5}
	tests := []struct {
		q, want float64
	}{
		{0, 1}, {0.25, 2}, {0.5, 3}, {0.9, 4.6}, {1, 5}, {-1, 1}, {2, 5},
	}
	for _, tt := range tests {
		if got := Quantile(s, tt.q); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if !math.IsNaN(Quantile(nil, 0.5)) {
		t.Error("Quantile of an empty sample is not NaN")
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("Median = %v, want 2.5", got)
	}
	in := []float64{3, 1, 2}
	Median(in)
	if in[0] != 3 {
		t.Error("Median sorted its input in place")
	}
}

func TestBootstrapDegenerate(t *testing.T) {
	if i := MedianCI(nil, 100, 0.95, rng(1)); i.Valid() {
		t.Errorf("interval of an empty sample is valid: %+v", i)
	}
	i := MedianCI([]float64{7}, 100, 0.95, rng(1))
	if i.Est != 7 || i.Lo != 7 || i.Hi != 7 || i.N != 1 {
		t.Errorf("one observation: %+v", i)
	}
}

// TestBootstrapCoverage: over many samples of a known distribution, the 95%
// interval of the median covers the true median close to 95% of the time
// (percentile bootstrap of a median is a little conservative or liberal
// with small samples; 88–99% is the honest band for n = 40).
func TestBootstrapCoverage(t *testing.T) {
	const trials, n = 300, 40
	r := rng(42)
	trueMedian := math.Ln2 // median of Exp(1)
	covered := 0
	for range trials {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = r.ExpFloat64()
		}
		if MedianCI(xs, 500, 0.95, r).Contains(trueMedian) {
			covered++
		}
	}
	if got := float64(covered) / trials; got < 0.88 || got > 0.99 {
		t.Fatalf("95%% interval covered the true median in %.1f%% of trials", 100*got)
	}
}

func TestBootstrapDeterministic(t *testing.T) {
	xs := []float64{1, 5, 2, 8, 3, 9, 4}
	a := MedianCI(xs, 300, 0.95, rng(7))
	b := MedianCI(xs, 300, 0.95, rng(7))
	if a != b {
		t.Fatalf("same seed, different intervals: %+v %+v", a, b)
	}
}

func TestRatiosSkipUnusablePairs(t *testing.T) {
	got := Ratios([]float64{2, 0, 3, math.Inf(1), 4}, []float64{1, 1, 0, 1, 2, 99})
	want := []float64{2, 2}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Ratios = %v, want %v", got, want)
	}
}

// TestPairedRatioCancelsDrift: a strategy 20% slower than the control,
// both measured in rounds whose machine speed drifts by a factor of 3.
// Pairing recovers 1.2 with a tight interval; comparing the two medians
// unpaired cannot tell the difference from the drift.
func TestPairedRatioCancelsDrift(t *testing.T) {
	r := rng(3)
	var control, strategy []float64
	for range 10 {
		drift := 1 + 2*r.Float64()
		noise := func() float64 { return 1 + 0.01*r.NormFloat64() }
		control = append(control, drift*noise())
		strategy = append(strategy, 1.2*drift*noise())
	}
	paired := PairedRatio(strategy, control, 2000, 0.95, rng(4))
	if !paired.Contains(1.2) || paired.Lo <= 1 || paired.Hi-paired.Lo > 0.05 {
		t.Fatalf("paired ratio %v: want a tight interval around 1.2 excluding 1", paired)
	}
	a := MedianCI(strategy, 2000, 0.95, rng(5))
	b := MedianCI(control, 2000, 0.95, rng(6))
	if a.Lo > b.Hi {
		t.Fatalf("unpaired intervals %v and %v do not overlap: the drift should hide the difference", a, b)
	}
}

func TestHierarchicalRatio(t *testing.T) {
	r := rng(9)
	blocks := func(center, spread float64, n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = center + spread*r.NormFloat64()
		}
		return out
	}
	one := HierarchicalRatio([][]float64{blocks(1.1, 0.05, 30)}, 1000, 0.95, rng(1))
	if !one.Valid() || one.Lo >= one.Hi || !one.Contains(1.1) {
		t.Fatalf("one round of 30 blocks: %v, want an interval around 1.1", one)
	}
	// Rounds that disagree with each other must widen the interval even
	// though each round is internally precise.
	agree := HierarchicalRatio([][]float64{blocks(1.1, 0.01, 30), blocks(1.1, 0.01, 30), blocks(1.1, 0.01, 30)}, 1000, 0.95, rng(2))
	disagree := HierarchicalRatio([][]float64{blocks(1.0, 0.01, 30), blocks(1.1, 0.01, 30), blocks(1.2, 0.01, 30)}, 1000, 0.95, rng(2))
	if disagree.Hi-disagree.Lo < 4*(agree.Hi-agree.Lo) {
		t.Fatalf("disagreeing rounds %v not much wider than agreeing ones %v", disagree, agree)
	}
	if empty := HierarchicalRatio([][]float64{nil, {}}, 10, 0.95, rng(1)); empty.Valid() {
		t.Fatalf("no blocks gave a valid interval: %v", empty)
	}
}

func TestNoiseFloor(t *testing.T) {
	tests := []struct {
		aa   Interval
		min  float64
		want float64
	}{
		{Interval{Est: 1.01, Lo: 0.97, Hi: 1.04, N: 5}, 0, 0.04},
		{Interval{Est: 0.99, Lo: 0.95, Hi: 1.02, N: 5}, 0, 0.05},
		{Interval{Est: 1.0, Lo: 0.999, Hi: 1.001, N: 5}, 0.01, 0.01},
		// An A/A whose interval excludes 1 (a broken control) still yields
		// how far it reached.
		{Interval{Est: 1.10, Lo: 1.08, Hi: 1.12, N: 5}, 0, 0.12},
	}
	for _, tt := range tests {
		if got := NoiseFloor(tt.aa, tt.min); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("NoiseFloor(%v, %v) = %v, want %v", tt.aa, tt.min, got, tt.want)
		}
	}
	if !math.IsNaN(NoiseFloor(Interval{}, 0)) {
		t.Error("noise floor of no A/A is not NaN")
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name  string
		ratio Interval
		floor float64
		want  Verdict
	}{
		{"clearly slower", Interval{Est: 1.25, Lo: 1.18, Hi: 1.31, N: 5}, 0.05, Slower},
		{"interval contains 1", Interval{Est: 1.25, Lo: 0.98, Hi: 1.40, N: 5}, 0.05, WithinNoise},
		{"excludes 1 but under the floor", Interval{Est: 1.03, Lo: 1.01, Hi: 1.05, N: 5}, 0.05, WithinNoise},
		{"clearly faster", Interval{Est: 0.80, Lo: 0.75, Hi: 0.86, N: 5}, 0.05, Faster},
		{"faster but under the floor", Interval{Est: 0.97, Lo: 0.95, Hi: 0.99, N: 5}, 0.05, WithinNoise},
		{"no interval", Interval{}, 0.05, Unknown},
		{"no floor", Interval{Est: 1.25, Lo: 1.18, Hi: 1.31, N: 5}, math.NaN(), Unknown},
	}
	for _, tt := range tests {
		if got := Classify(tt.ratio, tt.floor); got != tt.want {
			t.Errorf("%s: Classify = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestContradicts(t *testing.T) {
	tests := []struct {
		a, b Verdict
		want bool
	}{
		{Slower, Faster, true}, {Faster, Slower, true},
		{Slower, Slower, false}, {Slower, WithinNoise, false},
		{WithinNoise, Faster, false}, {Unknown, Slower, false},
	}
	for _, tt := range tests {
		if got := Contradicts(tt.a, tt.b); got != tt.want {
			t.Errorf("Contradicts(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
	if !Slower.IsFinding() || WithinNoise.IsFinding() {
		t.Error("IsFinding wrong")
	}
}
