package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/internal/e2e"
	"github.com/authlab/authlab/bench/scenario"
	"github.com/authlab/authlab/bench/topology"
	"github.com/authlab/authlab/internal/redistopo"
)

// TestEndToEndRedisFailover kills the Redis master under load, in a local
// Cluster and a Sentinel group of real redis-server processes, and checks
// what the report says: the promotion, the errors while the master was
// gone, recovery, and how every credential held at the kill fared.
func TestEndToEndRedisFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: several redis-server processes and a 24 s load phase each")
	}
	if _, err := redistopo.Find(); errors.Is(err, redistopo.ErrNotInstalled) {
		t.Skipf("a replicated Redis needs real redis-server and redis-cli processes: %v", err)
	}
	exe := e2e.Binary(t)
	for _, deployment := range []string{topology.RedisSentinel, topology.RedisCluster} {
		t.Run(deployment, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			const users = 40
			r, dir, err := Run(ctx, Config{
				Strategy: "redis-session", Scenarios: []string{scenario.RedisFailoverName}, Rate: 50, Duration: 24 * time.Second,
				Users: users, Instances: 2, Exe: exe, OutDir: t.TempDir(), RedisDeployment: deployment,
			})
			if err != nil {
				t.Fatalf("Run: %v (topology log in %s)", err, dir)
			}
			if left := e2e.Leftovers(exe); len(left) > 0 {
				t.Errorf("processes left after the run: %v", left)
			}
			s := r.Scenario(scenario.RedisFailoverName)
			if s == nil || s.Skipped || s.RedisFailover == nil {
				t.Fatalf("no redis-failover result: %+v", s)
			}
			f := s.RedisFailover
			t.Logf("%s: promoted after %vs, recovery %v s, %d of %d window requests failed, lost %d of %d (fresh: %d of %d), logouts undone %d of %d",
				deployment, deref(f.PromotedAfterS), deref(f.RecoveryS), f.WindowErrors.Total(), f.WindowRequests,
				f.SessionsLost, f.Checked, f.JustIssuedLost, f.JustIssued, f.RevocationsLost, f.Revoked)
			if f.Deployment != deployment || f.KilledMaster == "" || f.NewMaster == "" || f.NewMaster == f.KilledMaster {
				t.Errorf("deployment %q, killed %q, new master %q", f.Deployment, f.KilledMaster, f.NewMaster)
			}
			// Failure detection alone takes redistopo.DefaultFailureDetection.
			if f.PromotedAfterS == nil || *f.PromotedAfterS < redistopo.DefaultFailureDetection.Seconds() {
				t.Errorf("promoted after %v s, before failure detection could have fired", deref(f.PromotedAfterS))
			}
			// While no master served the killed slots, requests needing them
			// got 503 (store down), never a lost session.
			if f.WindowErrors.StoreDown == 0 || f.WindowErrors.StoreDown != f.WindowErrors.Total() {
				t.Errorf("window errors %+v: want 503s only", f.WindowErrors)
			}
			if f.Checked != users || f.Revoked == 0 || f.JustIssued == 0 || f.Method == "" {
				t.Errorf("checked %d of %d users, %d revoked, %d fresh, method %q", f.Checked, users, f.Revoked, f.JustIssued, f.Method)
			}
			if f.SessionsLost > f.Checked || f.JustIssuedLost > f.JustIssued || f.RevocationsLost > f.Revoked {
				t.Errorf("losses exceed what was checked: %+v", f)
			}
			if f.RecoveryS == nil {
				t.Errorf("never recovered after the promotion")
			}
		})
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}
