package scenario

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/load/loadtest"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/lb"
)

func TestSelect(t *testing.T) {
	got, err := Select([]string{RevocationName, SteadyName, RevocationName})
	if err != nil {
		t.Fatal(err)
	}
	if names := strings.Join(Names(got), ","); names != "steady,revocation" {
		t.Errorf("Select = %s, want steady,revocation (canonical order, each once)", names)
	}
	if _, err := Select([]string{"chaos"}); err == nil || !strings.Contains(err.Error(), `"chaos"`) {
		t.Errorf("Select(chaos) = %v, want an unknown-scenario error", err)
	}
	if names := strings.Join(Names(All()), ","); names != "steady,cost,failover,redis-outage,redis-failover,redis-partition,redis-rtt,redis-hang,revocation,mixed,capacity" {
		t.Errorf("All = %s", names)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Strategy: "sticky", Rate: 10, Duration: time.Second, Users: 5}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if ok.RevocationSample != 1 || ok.RevocationTimeout != 10*time.Second || ok.CapacityP99 != 50*time.Millisecond ||
		ok.CapacityStep != 5*time.Second || ok.CapacityBudget != time.Minute ||
		ok.MixedLogoutShare != DefaultMixedLogoutShare || ok.MixedRefreshAhead != DefaultMixedRefreshAhead {
		t.Errorf("defaults: %+v", ok)
	}
	bad := []func(*Config){
		func(c *Config) { c.Strategy = "kerberos" },
		func(c *Config) { c.Rate = 0 },
		func(c *Config) { c.Rate = MaxRate + 1 },
		func(c *Config) { c.Duration = 10 * time.Millisecond },
		func(c *Config) { c.Users = 0 },
		func(c *Config) { c.Users = load.MaxUsers + 1 },
		func(c *Config) { c.MixedLogoutShare = MaxMixedLogoutShare + 0.01 },
		func(c *Config) { c.MixedRefreshAhead = -time.Second },
	}
	for i, mutate := range bad {
		c := Config{Strategy: "jwt", Rate: 10, Duration: time.Second, Users: 5}
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d: Validate accepted %+v", i, c)
		}
	}
}

// fakeGateways is the lb admin API of a loadtest.Cluster.
type fakeGateways struct {
	cl    *loadtest.Cluster
	url   string
	n     int
	mu    sync.Mutex
	calls []string
}

func (g *fakeGateways) Instances(context.Context) ([]lb.InstanceInfo, error) {
	var out []lb.InstanceInfo
	for i := range g.n {
		out = append(out, lb.InstanceInfo{ID: fmt.Sprintf("gw%d", i+1), Address: g.url, State: "up"})
	}
	return out, nil
}

func (g *fakeGateways) Kill(_ context.Context, id string) error {
	g.record("kill " + id)
	g.cl.Kill(id)
	return nil
}

func (g *fakeGateways) Revive(_ context.Context, id string) error {
	g.record("revive " + id)
	g.cl.Revive(id)
	return nil
}

func (g *fakeGateways) record(call string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, call)
}

func newEnv(t *testing.T, instances, users int, cookie bool) (*Env, *fakeGateways) {
	t.Helper()
	cl, srv := loadtest.NewCluster(t, instances, cookie)
	d, err := load.New(load.Config{BaseURL: srv.URL, Users: users, Password: loadtest.Password})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.LoginAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := &fakeGateways{cl: cl, url: srv.URL, n: instances}
	strategy := "jwt"
	if cookie {
		strategy = "sticky"
	}
	return &Env{Config: Config{Strategy: strategy, Users: users, Rate: 200, Duration: 1500 * time.Millisecond,
		RevocationSample: 2, RevocationTimeout: 2 * time.Second,
		Failover: FailoverConfig{Modes: []string{KillAnnounced}}}, Driver: d, Gateways: g}, g
}

// TestFailoverFindsThePinnedUsersLost: the failover scenario kills the
// middle instance through the lb (the announced kill), and reports that
// exactly the users pinned to it lost their session.
func TestFailoverFindsThePinnedUsersLost(t *testing.T) {
	env, g := newEnv(t, 3, 30, true)
	results, err := RunAll(context.Background(), env, []Scenario{Failover{}})
	if err != nil {
		t.Fatal(err)
	}
	s := results[0]
	f := s.Failover
	if s.Name != FailoverName || f == nil || f.KilledInstance != "gw2" {
		t.Fatalf("result %+v", s)
	}
	if !slices.Equal(g.calls, []string{"kill gw2", "revive gw2"}) {
		t.Errorf("lb admin calls %v, want kill and revive of gw2", g.calls)
	}
	if len(f.PinnedUsers) != 10 || !slices.Equal(f.PinnedUsers, f.LostUsers) || f.PinnedAndLost != 10 || f.LostNotPinned != 0 {
		t.Errorf("pinned %v, lost %v (%d pinned and lost, %d lost not pinned)", f.PinnedUsers, f.LostUsers, f.PinnedAndLost, f.LostNotPinned)
	}
	// The pinned users' failures fall in the window; how many depends on how
	// fast the pacer went on this machine, so only their presence is asserted.
	if f.KillAtS < 0.4 || f.ReviveAtS <= f.KillAtS || f.WindowErrors < 1 {
		t.Errorf("kill at %v, revive at %v, window errors %d", f.KillAtS, f.ReviveAtS, f.WindowErrors)
	}
}

// crash is a Kill that does not go through the lb's admin API.
type crash struct{ cl *loadtest.Cluster }

func (crash) How() string { return "test crash" }
func (c crash) Down(_ context.Context, inst lb.InstanceInfo) error {
	c.cl.Kill(inst.ID)
	return nil
}
func (c crash) Up(_ context.Context, inst lb.InstanceInfo) error {
	c.cl.Revive(inst.ID)
	return nil
}

// TestFailoverTakesAnotherKill: a way of killing is a Kill; failover uses
// the one it is given instead of the lb's admin API.
func TestFailoverTakesAnotherKill(t *testing.T) {
	env, g := newEnv(t, 3, 30, true)
	s, err := Failover{Kill: crash{g.cl}}.Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.calls) != 0 {
		t.Errorf("the lb's admin API was called: %v", g.calls)
	}
	if s.Failover == nil || len(s.Failover.LostUsers) != 10 {
		t.Errorf("failover = %+v, want the 10 users of gw2 lost", s.Failover)
	}
}

func TestRedisOutageSkippedWhenRedisIsNotOurs(t *testing.T) {
	env, _ := newEnv(t, 1, 2, false)
	s, err := RedisOutage{}.Run(context.Background(), env)
	if err != nil || !s.Skipped || !strings.Contains(s.SkipReason, "external") {
		t.Errorf("redis-outage without an owned Redis = %+v, %v; want skipped", s, err)
	}
}

func TestRevocationSkippedWithoutCredential(t *testing.T) {
	env, _ := newEnv(t, 1, 2, false)
	env.Config.Strategy = "none"
	s, err := Revocation{}.Run(context.Background(), env)
	if err != nil || !s.Skipped || s.SkipReason != "the none strategy has no credential to revoke" {
		t.Errorf("revocation under none = %+v, %v", s, err)
	}
}

// TestRevocationThenLoadHasNoErrors: users logged out by the revocation
// scenario are logged back in and send valid credentials afterwards.
func TestRevocationThenLoadHasNoErrors(t *testing.T) {
	env, _ := newEnv(t, 1, 4, true)
	s, err := Revocation{}.Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if v := s.Revocation; v == nil || v.Pairs != 2 || v.Lag.Count != 2 || v.NotRevoked != 0 {
		t.Fatalf("revocation = %+v", s.Revocation)
	}
	pr, err := env.Driver.Run(context.Background(), load.Phase{Name: "after", Rate: 100, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if s := pr.Summary(); s.Errors.Total() != 0 {
		t.Errorf("errors after re-login: %+v", s.Errors)
	}
}

func TestSearchCapacity(t *testing.T) {
	limit := func(max float64) func(float64) (report.CapacityStep, error) {
		return func(rate float64) (report.CapacityStep, error) {
			if rate <= max {
				return report.CapacityStep{Achieved: rate, P99: 5}, nil
			}
			return report.CapacityStep{Achieved: rate * 0.9, P99: 500, ErrorRate: 0.2}, nil
		}
	}
	always := func() bool { return true }
	tests := []struct {
		name       string
		start, max float64
		wantMax    float64
		wantRates  string
	}{
		{"doubles then bisects to within 15%", 200, 1000, 1000, "200 400 800 1600 1200 1000 1100"},
		{"halves when the start fails, then bisects", 200, 60, 57, "200 100 50 75 63 57"},
		{"nothing passes", 2, 0.1, 0, "2 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := searchCapacity(tc.start, 50, always, limit(tc.max))
			if err != nil {
				t.Fatal(err)
			}
			var rates []string
			for _, s := range c.Steps {
				rates = append(rates, strconv.FormatFloat(s.Rate, 'f', -1, 64))
			}
			if c.MaxRate != tc.wantMax || strings.Join(rates, " ") != tc.wantRates {
				t.Errorf("max %v steps %v, want %v steps %s", c.MaxRate, rates, tc.wantMax, tc.wantRates)
			}
		})
	}
	n := 0
	c, _ := searchCapacity(100, 50, func() bool { n++; return n <= 2 }, limit(1e9))
	if len(c.Steps) != 2 {
		t.Errorf("budget not respected: %d steps", len(c.Steps))
	}
}

func TestRedisFailoverNeedsAReplicatedRedis(t *testing.T) {
	env, _ := newEnv(t, 1, 2, false)
	s, err := RedisFailover{}.Run(context.Background(), env)
	if err != nil || !s.Skipped || !strings.Contains(s.SkipReason, "--redis cluster") {
		t.Errorf("redis-failover without a replicated Redis = %+v, %v; want skipped, saying how to get one", s, err)
	}
}
