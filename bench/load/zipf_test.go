package load

import (
	"math"
	"strconv"
	"testing"
)

// TestZipfPicker: the draw follows the Zipf law it is given — user i's
// share ∝ 1/(i+1)^s — and the same seed gives the same sequence.
func TestZipfPicker(t *testing.T) {
	const n, draws = 1000, 200000
	for _, s := range []float64{1.1, 1.5, 2} {
		z, err := newZipf(n, s, 42)
		if err != nil {
			t.Fatal(err)
		}
		counts := make([]int, n)
		for range draws {
			i := z.pick()
			if i >= n {
				t.Fatalf("s=%v: index %d out of range", s, i)
			}
			counts[i]++
		}
		h := 0.0
		for k := 1; k <= n; k++ {
			h += math.Pow(float64(k), -s)
		}
		for _, i := range []int{0, 1, 9} {
			want := math.Pow(float64(i+1), -s) / h
			got := float64(counts[i]) / draws
			// 200k draws: the standard error of a share p is sqrt(p(1-p)/N) < 0.0012.
			if math.Abs(got-want) > 0.01 {
				t.Errorf("s=%v: user %d share %.4f, want %.4f", s, i, got, want)
			}
		}
		again, _ := newZipf(n, s, 42)
		z2, _ := newZipf(n, s, 42)
		for range 100 {
			if again.pick() != z2.pick() {
				t.Fatalf("s=%v: same seed, different draws", s)
			}
		}
	}
}

func TestZipfRefusesExponentsUpToOne(t *testing.T) {
	for _, s := range []float64{-1, 0, 0.5, 1} {
		if _, err := newZipf(10, s, 1); err == nil {
			t.Errorf("newZipf(s=%v) accepted", s)
		}
	}
	if err := (&Config{BaseURL: "http://x", Users: 3, Skew: 0.9}).Validate(); err == nil {
		t.Error("Config with skew 0.9 validated")
	}
}

func TestTraffic(t *testing.T) {
	tests := []struct {
		name                string
		users               []int
		n                   int
		skew                float64
		top, top10, distrib string
		active              int
	}{
		{"in turn", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10, 0, "0.1", "0.1", "round-robin", 10},
		{"one heavy user", []int{3, 3, 3, 3, 3, 3, 3, 3, 1, 2}, 10, 1.5, "0.8", "0.8", "zipf", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var recs []Record
			for _, u := range tc.users {
				recs = append(recs, Record{User: u})
			}
			tr := Traffic(recs, tc.n, tc.skew)
			if got := fmtShare(tr.TopUserShare); got != tc.top || fmtShare(tr.Top10PctShare) != tc.top10 || tr.Distribution != tc.distrib || tr.ActiveUsers != tc.active {
				t.Errorf("Traffic = %+v", tr)
			}
		})
	}
	if Traffic(nil, 10, 0) != nil {
		t.Error("Traffic of no records is not nil")
	}
}

func fmtShare(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
