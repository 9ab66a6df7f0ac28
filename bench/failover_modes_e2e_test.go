package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/internal/e2e"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/bench/scenario"
)

// The lb's health check defaults the harness runs with (authlab lb's
// --health-interval, --health-fall, --health-timeout).
const (
	lbHealthInterval = time.Second
	lbHealthFall     = 2
	lbHealthTimeout  = 500 * time.Millisecond
)

// runFailoverModes runs the failover scenario under jwt, round-robin, at
// a low rate for 6 s per phase, with the given modes and retry settings.
func runFailoverModes(t *testing.T, modes []string, retry []bool, freezeFor time.Duration) []*report.Failover {
	t.Helper()
	exe := e2e.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r, dir, err := Run(ctx, Config{
		Strategy: "jwt", Scenarios: []string{scenario.FailoverName}, Rate: 60, Duration: 6 * time.Second,
		Users: 20, Instances: 3, Exe: exe, OutDir: t.TempDir(),
		Failover: scenario.FailoverConfig{Modes: modes, Retry: retry, FreezeFor: freezeFor},
	})
	if err != nil {
		t.Fatalf("Run: %v (topology log in %s)", err, dir)
	}
	if left := e2e.Leftovers(exe); len(left) > 0 {
		t.Errorf("processes left after the run: %v", left)
	}
	s := r.Scenario(scenario.FailoverName)
	if s == nil || s.Failover == nil {
		t.Fatalf("no failover result: %+v", r.Scenarios)
	}
	out := []*report.Failover{s.Failover}
	for i := range s.Failover.Variants {
		out = append(out, s.Failover.Variants[i].Failover)
	}
	return out
}

// TestEndToEndCrash: a crash the lb is not told of reaches it through
// requests: without retry some are sent to the dead instance and fail
// before the lb notices; with retry none fails.
func TestEndToEndCrash(t *testing.T) {
	fs := runFailoverModes(t, []string{scenario.KillCrash}, []bool{false, true}, 0)
	if len(fs) != 2 {
		t.Fatalf("%d phases, want crash without and with retry", len(fs))
	}
	noRetry, retry := fs[0], fs[1]
	if noRetry.Retry || !retry.Retry || noRetry.KillMode != scenario.KillCrash {
		t.Fatalf("phases %+v, %+v", noRetry, retry)
	}
	if noRetry.DeadInstanceRequests == 0 || noRetry.DetectionS == nil || *noRetry.DetectionS <= 0 {
		t.Errorf("without retry: %d requests to the dead instance, detection %v; want both > 0 (detected by %q)",
			noRetry.DeadInstanceRequests, noRetry.DetectionS, noRetry.DetectedBy)
	}
	t.Logf("crash without retry: detection %v s (%s), %d to the dead instance, %d failed; with retry: detection %v s, %d failed, %v failed tries at the lb",
		secs(noRetry.DetectionS), noRetry.DetectedBy, noRetry.DeadInstanceRequests, noRetry.FailedRequests, secs(retry.DetectionS), retry.FailedRequests, secs(retry.LBFailedTries))
	if retry.FailedRequests != 0 {
		t.Errorf("with retry: %d failed requests, want 0", retry.FailedRequests)
	}
	if retry.LBFailedTries == nil || *retry.LBFailedTries == 0 {
		t.Errorf("with retry: the lb counts no failed try at the dead instance (%v)", retry.LBFailedTries)
	}
}

// TestEndToEndFreeze: a frozen instance is found by the health checks
// alone, within interval × fall plus one timeout (plus 0.5 s for a busy
// machine).
func TestEndToEndFreeze(t *testing.T) {
	fs := runFailoverModes(t, []string{scenario.KillFreeze}, nil, 3500*time.Millisecond)
	f := fs[0]
	bound := (lbHealthInterval*lbHealthFall + lbHealthTimeout + 500*time.Millisecond).Seconds()
	if f.DetectionS != nil {
		t.Logf("freeze: detection %v s (%s), %d to the frozen instance", *f.DetectionS, f.DetectedBy, f.DeadInstanceRequests)
	}
	if f.DetectionS == nil || *f.DetectionS <= 0 || *f.DetectionS > bound {
		t.Errorf("freeze detection %v (by %q), want within (0, %.2f] s", f.DetectionS, f.DetectedBy, bound)
	}
	if f.DeadInstanceRequests == 0 {
		t.Error("no request reached the frozen instance")
	}
}

// secs formats an optional number for a log line.
func secs[T int | float64](v *T) string {
	if v == nil {
		return "none"
	}
	return fmt.Sprint(*v)
}
