package paired

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/internal/e2e"
	"github.com/authlab/authlab/bench/report"
)

// TestEndToEndPaired: two rounds of none and jwt side by side write
// paired.json with the A/A pair, a ratio per round for every pool but the
// control, and labelled summaries; nothing is left running.
func TestEndToEndPaired(t *testing.T) {
	exe := e2e.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out := t.TempDir()
	run, dir, err := Run(ctx, Config{
		Strategies: []string{"jwt"}, Rounds: 2, Rate: 40, Duration: 3 * time.Second, Warmup: time.Second,
		Users: 8, Instances: 1, Exe: exe, OutDir: out, Seed: 7, Resamples: 200,
	})
	if err != nil {
		t.Fatalf("Run: %v (topology log in %s)", err, dir)
	}
	if left := e2e.Leftovers(exe); len(left) > 0 {
		t.Errorf("processes left after the run: %v", left)
	}
	for _, f := range []string{report.PairedJSONFile, report.PairedMDFile, report.PairedRatioChart, report.PairedRoundChart} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	if filepath.Dir(dir) != filepath.Join(out, report.PairedDir) {
		t.Errorf("run written to %s", dir)
	}
	got, err := report.ReadPairedJSON(filepath.Join(dir, report.PairedJSONFile))
	if err != nil {
		t.Fatal(err)
	}
	if got.ControlPool != "none" || got.AAPool != "none-b" || len(got.Pools) != 3 || len(got.Rounds) != 2 {
		t.Fatalf("paired.json: control %s, A/A %s, %d pools, %d rounds", got.ControlPool, got.AAPool, len(got.Pools), len(got.Rounds))
	}
	for _, r := range got.Rounds {
		if len(r.Pools) != 3 || len(r.Ratios) != 2 {
			t.Errorf("round %d: %d pools, %d ratios", r.Round, len(r.Pools), len(r.Ratios))
		}
		for _, p := range r.Pools {
			if p.Requests < 60 || p.OK != p.Requests || len(p.SecondP50Ms) < 3 {
				t.Errorf("round %d pool %s: %d requests, %d ok, %d seconds", r.Round, p.Pool, p.Requests, p.OK, len(p.SecondP50Ms))
			}
		}
		for _, rr := range r.Ratios {
			if rr.P50 <= 0 {
				t.Errorf("round %d: ratio %+v", r.Round, rr)
			}
		}
	}
	aa := got.Summary.AA.RatioP50
	if aa == nil || !aa.Valid() || aa.N < 6 || got.Summary.NoiseFloor.P50 < DefaultMinNoiseFloor {
		t.Errorf("A/A summary %+v, floor %v", aa, got.Summary.NoiseFloor.P50)
	}
	jwt := got.Summary.Pool("jwt")
	if jwt == nil || jwt.RatioP50 == nil || !jwt.RatioP50.Valid() || jwt.RatioP50.Verdict == "" || jwt.Rounds != 2 {
		t.Errorf("jwt summary %+v", jwt)
	}
	if run.RunID != got.RunID {
		t.Errorf("run id %s vs %s", run.RunID, got.RunID)
	}
}
