package topology

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/proc"
)

// TestStartPools starts three pools over fake children: one lb each, named
// after its pool, with its strategy's policy and its own gateways, all
// sharing one auth, one backend and one Redis, every lb with the
// upstream proxies asked for; Close stops them all.
func TestStartPools(t *testing.T) {
	log := filepath.Join(t.TempDir(), "starts.jsonl")
	t.Setenv(fakeProcEnv, "1")
	t.Setenv(fakeLogEnv, log)
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const redisURL = "redis://127.0.0.1:1/0"
	ps, err := StartPools(ctx, PoolsConfig{
		Exe: os.Args[0], SeedUsers: 3, RedisURL: redisURL,
		Pools: []PoolSpec{
			{Name: "none", Strategy: "none", Instances: 1},
			{Name: "none-b", Strategy: "none", Instances: 1},
			{Name: "sticky", Strategy: "sticky", Instances: 2},
		},
		UpstreamNet: &UpstreamNet{Latency: 2 * time.Millisecond},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("StartPools: %v", err)
	}
	defer ps.Close()
	if len(ps.Pools) != 3 || ps.Pool("none-b") == nil || ps.Pool("nope") != nil {
		t.Fatalf("pools = %+v", ps.Pools)
	}
	urls := map[string]bool{}
	for _, p := range ps.Pools {
		urls[p.LBURL] = true
		insts, err := p.Instances(ctx)
		if err != nil || len(insts) != p.Spec.Instances {
			t.Errorf("pool %s: instances %v, %v", p.Spec.Name, insts, err)
		}
	}
	if len(urls) != 3 {
		t.Errorf("pools share an lb: %v", urls)
	}
	if p := ps.Pool("sticky"); p.Spec.Policy != "sticky" {
		t.Errorf("sticky pool policy %q", p.Spec.Policy)
	}
	if p := ps.Pool("none"); p.Spec.Policy != "round-robin" {
		t.Errorf("none pool policy %q", p.Spec.Policy)
	}
	starts := readStarts(t, log)
	var lbs []string
	count := map[string]int{}
	for _, s := range starts {
		count[s.Name]++
		if s.Name != "lb" {
			continue
		}
		args := strings.Join(s.Args, " ")
		lbs = append(lbs, args)
		if s.Env["AUTHLAB_REDIS_URL"] != redisURL || !strings.Contains(args, "--auth-url "+ps.AuthURL) {
			t.Errorf("lb %s does not share the services", args)
		}
		if lbOwn, _, _ := strings.Cut(args, " -- "); !strings.Contains(lbOwn, "--upstream-latency 2ms --upstream-jitter 0s") {
			t.Errorf("lb %s: every pool's lb must put its upstream proxies before its gateways", args)
		}
	}
	if count["auth"] != 1 || count["backend"] != 1 || len(lbs) != 3 {
		t.Errorf("starts %v, want one auth, one backend, three lbs", count)
	}
	if !slices.ContainsFunc(lbs, func(a string) bool {
		return strings.Contains(a, "--policy sticky") && strings.Contains(a, "--strategy sticky") && strings.Contains(a, "--instances 2")
	}) {
		t.Errorf("no sticky lb among %v", lbs)
	}
	if err := ps.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range starts {
		if proc.Alive(s.PID) {
			t.Errorf("%s (pid %d) survived Close", s.Name, s.PID)
		}
	}
}

func TestPoolsConfigValidate(t *testing.T) {
	bad := []PoolsConfig{
		{Exe: "x", SeedUsers: 1},
		{Exe: "x", SeedUsers: 1, Pools: []PoolSpec{{Name: "a", Strategy: "kerberos", Instances: 1}}},
		{Exe: "x", SeedUsers: 1, Pools: []PoolSpec{{Name: "a", Strategy: "none", Instances: 1}, {Name: "a", Strategy: "jwt", Instances: 1}}},
		{Exe: "x", SeedUsers: 1, Pools: []PoolSpec{{Name: "a", Strategy: "none", Instances: 0}}},
		{Exe: "x", SeedUsers: 0, Pools: []PoolSpec{{Name: "a", Strategy: "none", Instances: 1}}},
		{SeedUsers: 1, Pools: []PoolSpec{{Name: "a", Strategy: "none", Instances: 1}}},
	}
	for i, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("case %d: Validate accepted %+v", i, c)
		}
	}
}
