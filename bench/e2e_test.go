package bench

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/internal/e2e"
	"github.com/authlab/authlab/bench/scenario"
)

func TestEndToEndFailover(t *testing.T) {
	exe := e2e.Binary(t)
	tests := []struct {
		strategy  string
		scenarios []string
	}{
		{"sticky", []string{scenario.FailoverName}},
		{"redis-session", []string{scenario.FailoverName, scenario.RevocationName}},
		{"jwt", []string{scenario.FailoverName}},
	}
	for _, tc := range tests {
		t.Run(tc.strategy, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			const rate = 100
			r, dir, err := Run(ctx, Config{
				Strategy: tc.strategy, Scenarios: tc.scenarios, Rate: rate, Duration: 6 * time.Second,
				Users: 30, Instances: 3, Exe: exe, OutDir: t.TempDir(), RevocationTimeout: 3 * time.Second,
			})
			if err != nil {
				t.Fatalf("Run: %v (topology log in %s)", err, dir)
			}
			if left := e2e.Leftovers(exe); len(left) > 0 {
				t.Errorf("processes left after the run: %v", left)
			}
			for _, f := range []string{"report.json", "report.md", "failover-latency.png"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("missing %s: %v", f, err)
				}
			}
			s := r.Scenario(scenario.FailoverName)
			if s == nil || s.Failover == nil {
				t.Fatalf("no failover result: %+v", r.Scenarios)
			}
			f := s.Failover
			if s.AchievedRate < 0.99*rate {
				t.Errorf("achieved %.2f req/s of %d", s.AchievedRate, rate)
			}
			if len(s.Events) != 2 {
				t.Errorf("events = %+v, want kill and revive", s.Events)
			}
			if tc.strategy == "sticky" {
				if len(f.PinnedUsers) == 0 {
					t.Fatalf("no user pinned to the killed instance %s", f.KilledInstance)
				}
				if !slices.Equal(f.PinnedUsers, f.LostUsers) {
					t.Errorf("pinned to %s: %v\nlost: %v", f.KilledInstance, f.PinnedUsers, f.LostUsers)
				}
				if s.Relogins < len(f.LostUsers) {
					t.Errorf("re-logins %d < lost %d", s.Relogins, len(f.LostUsers))
				}
			} else if s.SessionsLost != 0 {
				t.Errorf("%s lost %d sessions (users %v)", tc.strategy, s.SessionsLost, f.LostUsers)
			}
			if v := r.Scenario(scenario.RevocationName); v != nil {
				if v.Revocation == nil || v.Revocation.Pairs != 3*3 || v.Revocation.NotRevoked != 0 {
					t.Errorf("revocation = %+v, want 9 pairs all revoked", v.Revocation)
				}
			}
		})
	}
}
