package demo

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/internal/e2e"
)

func TestEndToEndDemo(t *testing.T) {
	exe := e2e.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out strings.Builder
	res, err := RunAll(ctx, Config{Exe: exe, Out: &out})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	// A strategy whose sessions live in one instance loses the session
	// with it (401); every other one carries on (200).
	for _, o := range res.Kill {
		want := 200
		if catalog.KeepsSessionsInInstance(o.Strategy) {
			want = 401
		}
		if o.AfterStatus != want || o.After == o.Before || o.Before == "" {
			t.Errorf("%s: %+v, want status %d from another instance", o.Strategy, o, want)
		}
	}
	if len(res.Kill) != len(DefaultStrategies()) || !strings.Contains(out.String(), "session lost") {
		t.Errorf("narration:\n%s", out.String())
	}
	checkRedisOutage(t, res.RedisOutage)
	if !strings.Contains(out.String(), "== Redis down, in short ==") {
		t.Errorf("no Redis-outage summary in the narration:\n%s", out.String())
	}
	if left := e2e.Leftovers(exe); len(left) > 0 {
		t.Errorf("processes left after the demo: %v", left)
	}
}

// checkRedisOutage asserts what each strategy did with Redis down, in
// bounds loose enough for a busy machine: redis-session fails at once,
// opaque serves about its cache TTL, jwt and sticky keep serving.
func checkRedisOutage(t *testing.T, outs []OutageOutcome) {
	t.Helper()
	seen := map[string]OutageOutcome{}
	for _, o := range outs {
		seen[o.Strategy] = o
	}
	for _, name := range []string{"sticky", "redis-session", "jwt", "opaque"} {
		o, ok := seen[name]
		if !ok {
			t.Errorf("%s missing from the Redis-outage chapter (have %v)", name, outs)
			continue
		}
		switch name {
		case "redis-session":
			if !o.Failed || o.FailStatus != http.StatusServiceUnavailable || o.FailedAfter > time.Second {
				t.Errorf("%s: %+v, want 503 within 1 s of the stop", name, o)
			}
		case "opaque":
			ttl := o.CacheTTL
			if ttl != DemoOpaqueCacheTTL || !o.Failed || o.FailStatus != http.StatusServiceUnavailable ||
				o.FailedAfter < ttl/2 || o.FailedAfter > ttl+2*time.Second {
				t.Errorf("%s: %+v, want 200 for at least %s, then 503 by %s", name, o, ttl/2, ttl+2*time.Second)
			}
		case "jwt", "sticky":
			if o.Failed || o.Watched < OutageWindow || o.OK != o.Requests || o.OK == 0 {
				t.Errorf("%s: %+v, want every request OK for %s", name, o, OutageWindow)
			}
		}
		// What needs Redis fails; sticky needs none.
		wantLogin := http.StatusServiceUnavailable
		if name == "sticky" {
			wantLogin = http.StatusOK
		}
		if o.LoginStatus != wantLogin {
			t.Errorf("%s: login with Redis down → %d, want %d", name, o.LoginStatus, wantLogin)
		}
		if name == "jwt" && o.RefreshStatus != http.StatusServiceUnavailable {
			t.Errorf("jwt: refresh with Redis down → %d, want 503", o.RefreshStatus)
		}
	}
}
