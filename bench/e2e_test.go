package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildExe  string
	buildErr  error
	buildOut  []byte
)

// authlabBinary builds cmd/authlab once per test run, or skips the test
// with the reason when it does not build.
func authlabBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "authlab-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		buildExe = filepath.Join(dir, "authlab")
		cmd := exec.Command("go", "build", "-o", buildExe, "github.com/authlab/authlab/cmd/authlab")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Skipf("end-to-end test skipped: go build ./cmd/authlab failed: %v\n%s", buildErr, buildOut)
	}
	return buildExe
}

// leftovers lists running processes started from exe.
func leftovers(exe string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if args[0] == exe {
			out = append(out, e.Name()+": "+strings.Join(args, " "))
		}
	}
	return out
}

func TestEndToEndFailover(t *testing.T) {
	exe := authlabBinary(t)
	tests := []struct {
		strategy  string
		scenarios []string
	}{
		{"sticky", []string{ScenarioFailover}},
		{"redis-session", []string{ScenarioFailover, ScenarioRevocation}},
		{"jwt", []string{ScenarioFailover}},
	}
	for _, tc := range tests {
		t.Run(tc.strategy, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			const rate = 100
			r, dir, err := Run(ctx, RunConfig{
				Strategy: tc.strategy, Scenarios: tc.scenarios, Rate: rate, Duration: 6 * time.Second,
				Users: 30, Instances: 3, Exe: exe, OutDir: t.TempDir(), RevocationTimeout: 3 * time.Second,
			})
			if err != nil {
				t.Fatalf("Run: %v (topology log in %s)", err, dir)
			}
			if left := leftovers(exe); len(left) > 0 {
				t.Errorf("processes left after the run: %v", left)
			}
			for _, f := range []string{"report.json", "report.md", "failover-latency.png"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("missing %s: %v", f, err)
				}
			}
			s := r.Scenario(ScenarioFailover)
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
			if v := r.Scenario(ScenarioRevocation); v != nil {
				if v.Revocation == nil || v.Revocation.Pairs != 3*3 || v.Revocation.NotRevoked != 0 {
					t.Errorf("revocation = %+v, want 9 pairs all revoked", v.Revocation)
				}
			}
		})
	}
}

func TestEndToEndDemo(t *testing.T) {
	exe := authlabBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	outs, err := RunDemo(ctx, DemoConfig{Exe: exe, Out: &out})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	want := map[string]int{"sticky": 401, "redis-session": 200, "jwt": 200}
	for _, o := range outs {
		if o.AfterStatus != want[o.Strategy] || o.After == o.Before || o.Before == "" {
			t.Errorf("%s: %+v, want status %d from another instance", o.Strategy, o, want[o.Strategy])
		}
	}
	if len(outs) != 3 || !strings.Contains(out.String(), "session lost") {
		t.Errorf("narration:\n%s", out.String())
	}
	if left := leftovers(exe); len(left) > 0 {
		t.Errorf("processes left after the demo: %v", left)
	}
}
