package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/bench"
	"github.com/authlab/authlab/bench/scenario"
	"github.com/authlab/authlab/bench/target"
	"github.com/authlab/authlab/deploy"
)

// TestComposeBenchTarget runs the harness against the compose deployment
// it did not start (bench --target, as make compose-bench does): steady
// load, a gateway docker-killed under redis-session (no session lost, the
// lb learns of the crash by itself), one cut off from Redis by the network
// and healed; the report is labelled with its target.
func TestComposeBenchTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images and starts containers (skipped with -short)")
	}
	ctx := context.Background()
	if err := deploy.EngineAvailable(ctx); err != nil {
		t.Skipf("SKIPPED: %v — the compose tests need a Docker engine", err)
	}
	tool, err := deploy.FindTool(ctx)
	if err != nil {
		t.Skipf("SKIPPED: %v — the compose tests need docker compose or docker-compose", err)
	}
	var buildLog bytes.Buffer
	if err := deploy.BuildImages(ctx, "..", &buildLog); err != nil {
		t.Fatalf("build images: %v\n%s", err, buildLog.String())
	}
	lbAddr, adminAddr := deploy.FreePort(t), deploy.FreePort(t) // compose publishes them
	p := deploy.Project{Name: fmt.Sprintf("authlabtarget%d", time.Now().UnixNano()%1e6), Dir: "..", Tool: tool,
		EnvFile: filepath.Join(t.TempDir(), "compose.env")}
	env := deploy.NewEnv(map[string]string{
		"STRATEGY": "redis-session", "LB_POLICY": "round-robin",
		"AUTHLAB_LB_PORT": port(lbAddr), "AUTHLAB_LB_ADMIN_PORT": port(adminAddr),
		"AUTHLAB_SEED_USERS": "40", "AUTHLAB_BCRYPT_COST": "4", "AUTHLAB_LOG_LEVEL": "warn",
	})
	if err := deploy.WriteEnv(p.EnvFile, env); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := p.Down(cctx, 5*time.Second); err != nil {
			t.Errorf("compose down: %v", err)
		}
		if left, err := p.Leftovers(cctx); err != nil || len(left) > 0 {
			t.Errorf("left behind: %v (%v)", left, err)
		}
	})
	uctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := p.Up(uctx); err != nil {
		t.Fatalf("compose up: %v", err)
	}
	waitLogin(t, "http://"+lbAddr, env["AUTHLAB_SEED_PASSWORD"])

	// 21 s phases: the fault at 7 s, the heal at 14 s, and the 5 s of
	// ≥ 99% success that recovery is read from fit after it.
	bctx, bcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer bcancel()
	r, dir, err := bench.RunTarget(bctx, bench.Config{
		Strategy: "redis-session", Rate: 40, Duration: 21 * time.Second, Users: 30, OutDir: t.TempDir(),
		Scenarios: []string{scenario.SteadyName, scenario.FailoverName, scenario.RedisPartitionName, scenario.RevocationName},
	}, bench.TargetConfig{Password: env["AUTHLAB_SEED_PASSWORD"], Target: target.Config{
		LBURL: "http://" + lbAddr, AdminURL: "http://" + adminAddr, AdminToken: env["AUTHLAB_LB_ADMIN_TOKEN"], Project: &p,
	}})
	if err != nil {
		t.Fatalf("bench --target: %v (report in %s)", err, dir)
	}
	if !strings.Contains(r.Settings.Target, lbAddr) || !strings.Contains(r.Settings.Target, p.Name) {
		t.Errorf("report target %q, want the lb %s and project %s", r.Settings.Target, lbAddr, p.Name)
	}
	if s := r.Scenario(scenario.SteadyName); s == nil || s.Requests == 0 || s.OK != s.Requests {
		t.Errorf("steady against the deployment: %+v", s)
	}
	f := r.Scenario(scenario.FailoverName)
	if f == nil || f.Failover == nil {
		t.Fatalf("no failover result")
	}
	t.Logf("docker kill of %s: detection %v s, %d requests to the dead gateway, %d failed, %d sessions lost",
		f.Failover.KilledInstance, deref(f.Failover.DetectionS), f.Failover.DeadInstanceRequests, f.Errors.Total(), f.SessionsLost)
	if f.SessionsLost != 0 || len(f.Failover.LostUsers) != 0 {
		t.Errorf("redis-session lost %d sessions to a gateway's crash", f.SessionsLost)
	}
	if len(f.Events) < 2 || f.Events[0].Type != "kill" {
		t.Errorf("failover events %+v, want the kill and the restart", f.Events)
	}
	pt := r.Scenario(scenario.RedisPartitionName)
	if pt == nil || pt.Skipped || pt.RedisPartition == nil {
		t.Fatalf("redis-partition: %+v", pt)
	}
	t.Logf("%s cut off from Redis: %d requests while cut, %d OK, %d 503; recovery %v s",
		pt.RedisPartition.Instance, pt.RedisPartition.DuringRequests, pt.RedisPartition.DuringOK, pt.RedisPartition.DuringErrors.StoreDown, deref(pt.RedisPartition.RecoveryS))
	if pt.RedisPartition.DuringRequests == 0 || pt.RedisPartition.RecoveryS == nil {
		t.Errorf("partition: %d requests while cut, recovery %v", pt.RedisPartition.DuringRequests, pt.RedisPartition.RecoveryS)
	}
	// The gateways' addresses are the containers' own: not reachable from
	// the host, so revocation says it cannot poll them.
	if rv := r.Scenario(scenario.RevocationName); rv == nil || !rv.Skipped || !strings.Contains(rv.SkipReason, "does not answer") {
		t.Errorf("revocation against containers: %+v, want skipped for unreachable gateways", rv)
	}
}

func waitLogin(t *testing.T, lb, password string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		body := fmt.Sprintf(`{"username":"user0001","password":%q}`, password)
		resp, err := c.Post(lb+"/auth/login", "application/json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("no login through %s within 3 minutes (last: %s)", lb, last)
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func deref(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}
