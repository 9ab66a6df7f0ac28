package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/internal/e2e"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/bench/scenario"
)

// TestEndToEndMixed runs the mixed scenario on a real topology: jwt with
// 4 s access tokens (so users refresh ahead of expiry within the phase)
// and redis-session. The administrator is served the admin path, normal
// users are refused it, logout-then-login cycles happen, and no request
// breaks authentication or authorization.
func TestEndToEndMixed(t *testing.T) {
	exe := e2e.Binary(t)
	tests := []struct {
		strategy    string
		gatewayArgs []string
		refreshable bool
	}{
		{"jwt", []string{"--access-ttl", "4s"}, true},
		{"redis-session", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.strategy, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			r, dir, err := Run(ctx, Config{
				Strategy: tc.strategy, Scenarios: []string{scenario.MixedName}, Rate: 100, Duration: 8 * time.Second,
				Users: 30, Instances: 2, Exe: exe, OutDir: t.TempDir(), GatewayArgs: tc.gatewayArgs,
				MixedLogoutShare: 0.03,
			})
			if err != nil {
				t.Fatalf("Run: %v (topology log in %s)", err, dir)
			}
			if left := e2e.Leftovers(exe); len(left) > 0 {
				t.Errorf("processes left after the run: %v", left)
			}
			if _, err := os.Stat(filepath.Join(dir, "report.md")); err != nil {
				t.Errorf("missing report.md: %v", err)
			}
			s := r.Scenario(scenario.MixedName)
			if s == nil || s.Mixed == nil || len(s.Mixed.Routes) != 5 {
				t.Fatalf("no mixed result with 5 routes: %+v", s)
			}
			m := s.Mixed
			byName := map[string]report.MixedRoute{}
			for _, rt := range m.Routes {
				byName[rt.Name] = rt
			}
			if a := byName["admin"]; a.Requests == 0 || a.Status.S2xx == 0 || a.Outcomes[report.MixedOutcomeWronglyDenied] != 0 {
				t.Errorf("admin route %+v", a)
			}
			if d := byName["admin-as-user"]; d.Requests == 0 || d.Status.S2xx != 0 || d.Outcomes[report.MixedOutcomeDenied] == 0 {
				t.Errorf("admin-as-user route %+v", d)
			}
			if m.AuthzFailures != 0 || m.Serious != 0 {
				t.Errorf("serious findings: outcomes %v, verdict %q", m.Outcomes, m.Verdict)
			}
			if m.Logouts == 0 || m.LogoutFailures != 0 || m.CycleLogins != m.Logouts {
				t.Errorf("logouts %d (failed %d), logins after them %d", m.Logouts, m.LogoutFailures, m.CycleLogins)
			}
			if tc.refreshable != (m.RefreshAheadS > 0) || tc.refreshable != (s.Refreshes > 0) || s.RefreshFailures != 0 {
				t.Errorf("refresh-ahead %v s: %d refreshes, %d failed", m.RefreshAheadS, s.Refreshes, s.RefreshFailures)
			}
			// An access token can expire in flight only when a request takes
			// longer than the refresh margin (2 s): on a machine that slow the
			// strict count says nothing about the code.
			if s.Latency.Max < 2000 && m.Unexpected != 0 {
				t.Errorf("%d unexpected failures: outcomes %v", m.Unexpected, m.Outcomes)
			}
		})
	}
}
