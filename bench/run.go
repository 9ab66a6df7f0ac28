package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/internal/redisx/redisserver"
)

// Scenario names.
const (
	ScenarioSteady      = "steady"
	ScenarioFailover    = "failover"
	ScenarioRedisOutage = "redis-outage"
	ScenarioRevocation  = "revocation"
	ScenarioCapacity    = "capacity"
)

// AllScenarios in the order they run.
var AllScenarios = []string{ScenarioSteady, ScenarioFailover, ScenarioRedisOutage, ScenarioRevocation, ScenarioCapacity}

// DefaultScenarios is what `authlab bench` runs without --scenario.
var DefaultScenarios = []string{ScenarioSteady, ScenarioFailover, ScenarioRevocation}

// RunConfig configures one `authlab bench` run.
type RunConfig struct {
	Strategy  string
	Scenarios []string
	// Rate (requests per second) and Duration of each load scenario.
	Rate      float64
	Duration  time.Duration
	Users     int
	Instances int
	Policy    string
	// OutDir is the results root; the run goes to OutDir/<strategy>/<run-id>.
	OutDir string
	// Exe is the authlab binary to start the topology from.
	Exe string
	// RedisURL, when set, is an external Redis (redis-outage is skipped).
	RedisURL   string
	BcryptCost int
	Path       string
	// GatewayArgs are extra flags for every gateway.
	GatewayArgs []string
	// Revocation: users logged out, and how long to poll each instance.
	RevocationSample  int
	RevocationTimeout time.Duration
	// Capacity: the p99 bound, the length of a step, and the time budget.
	CapacityP99    time.Duration
	CapacityStep   time.Duration
	CapacityBudget time.Duration
	// Flags are recorded in the report as given.
	Flags map[string]string
	// Progress receives the live progress line; Terminal says whether it is
	// a terminal (one rewritten line) or not (a plain line every 5 s).
	Progress io.Writer
	Terminal bool
	Logger   *slog.Logger
}

// Validate checks c and fills defaults.
func (c *RunConfig) Validate() error {
	if !slices.Contains(Strategies, c.Strategy) {
		return fmt.Errorf("unknown strategy %q (want one of %s)", c.Strategy, strings.Join(Strategies, ", "))
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = slices.Clone(DefaultScenarios)
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(AllScenarios, s) {
			return fmt.Errorf("unknown scenario %q (want some of %s)", s, strings.Join(AllScenarios, ","))
		}
	}
	// Run in the canonical order, each once.
	var ordered []string
	for _, s := range AllScenarios {
		if slices.Contains(c.Scenarios, s) {
			ordered = append(ordered, s)
		}
	}
	c.Scenarios = ordered
	if c.Rate <= 0 || c.Rate > 100000 {
		return fmt.Errorf("rate must be in (0, 100000], got %v", c.Rate)
	}
	if c.Duration < time.Second {
		return fmt.Errorf("duration must be at least 1s, got %s", c.Duration)
	}
	if c.Users < 1 || c.Users > 9999 {
		return fmt.Errorf("users must be 1..9999, got %d", c.Users)
	}
	if c.Instances < 1 || c.Instances > 64 {
		return fmt.Errorf("instances must be 1..64, got %d", c.Instances)
	}
	if c.Policy == "" {
		c.Policy = DefaultPolicy(c.Strategy)
	}
	if !slices.Contains(Policies, c.Policy) {
		return fmt.Errorf("unknown policy %q (want one of %s)", c.Policy, strings.Join(Policies, ", "))
	}
	if c.OutDir == "" {
		c.OutDir = "results"
	}
	if c.Exe == "" {
		return errors.New("no authlab executable to start the topology from")
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = 4
	}
	if c.Path == "" {
		c.Path = "/api/me"
	}
	if c.RevocationSample <= 0 {
		c.RevocationSample = min(20, max(1, c.Users/10))
	}
	c.RevocationSample = min(c.RevocationSample, c.Users)
	if c.RevocationTimeout <= 0 {
		c.RevocationTimeout = 10 * time.Second
	}
	if c.CapacityP99 <= 0 {
		c.CapacityP99 = 50 * time.Millisecond
	}
	if c.CapacityStep <= 0 {
		c.CapacityStep = 5 * time.Second
	}
	if c.CapacityBudget <= 0 {
		c.CapacityBudget = 60 * time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Run starts the topology, logs the users in, runs the scenarios, writes
// report.json, report.md and the charts into OutDir/<strategy>/<run-id>,
// and tears the topology down (also on error and when ctx ends). It
// returns the report and its directory.
func Run(ctx context.Context, cfg RunConfig) (*report.Report, string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, "", err
	}
	started := time.Now().UTC()
	runID := started.Format("20060102-150405")
	dir := filepath.Join(cfg.OutDir, cfg.Strategy, runID)
	for i := 2; ; i++ {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			break
		}
		runID = fmt.Sprintf("%s-%d", started.Format("20060102-150405"), i)
		dir = filepath.Join(cfg.OutDir, cfg.Strategy, runID)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("create %s: %w", dir, err)
	}
	logf, err := os.Create(filepath.Join(dir, "topology.log"))
	if err != nil {
		return nil, "", fmt.Errorf("create topology log: %w", err)
	}
	defer logf.Close()

	r := &report.Report{
		SchemaVersion: report.SchemaVersion,
		RunID:         runID,
		Strategy:      cfg.Strategy,
		StartedAt:     started,
		Settings: report.Settings{
			Strategy: cfg.Strategy, Policy: cfg.Policy, Instances: cfg.Instances, Users: cfg.Users,
			Rate: cfg.Rate, DurationS: cfg.Duration.Seconds(), Scenarios: cfg.Scenarios,
			BcryptCost: cfg.BcryptCost, Path: cfg.Path, CapacityP99Ms: float64(cfg.CapacityP99) / 1e6, Flags: cfg.Flags,
		},
		Environment: CaptureEnvironment(ctx),
	}
	progress := newProgress(cfg.Progress, cfg.Terminal, cfg.Strategy)
	progress.note("starting redis, auth, backend, lb with %d %s gateways (policy %s); children's output → %s",
		cfg.Instances, cfg.Strategy, cfg.Policy, logf.Name())
	topo, err := StartTopology(ctx, TopologyConfig{
		Exe: cfg.Exe, Strategy: cfg.Strategy, Instances: cfg.Instances, Policy: cfg.Policy,
		SeedUsers: cfg.Users, BcryptCost: cfg.BcryptCost, RedisURL: cfg.RedisURL,
		GatewayArgs: cfg.GatewayArgs, Output: logf, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, dir, fmt.Errorf("start topology: %w", err)
	}
	defer topo.Close()
	r.Environment.RedisKind, r.Environment.RedisVersion = topo.RedisKind, topo.RedisVersion

	runErr := runScenarios(ctx, cfg, topo, r, progress)
	progress.done()
	r.FinishedAt = time.Now().UTC()
	if runErr != nil && len(r.Scenarios) == 0 {
		return r, dir, runErr
	}
	if err := writeReport(dir, r); err != nil {
		return r, dir, errors.Join(runErr, err)
	}
	return r, dir, runErr
}

func writeReport(dir string, r *report.Report) error {
	if err := r.WriteJSON(filepath.Join(dir, "report.json")); err != nil {
		return err
	}
	if _, err := report.WriteCharts(dir, r); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "report.md"))
	if err != nil {
		return fmt.Errorf("create report.md: %w", err)
	}
	if err := report.RenderMarkdown(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runner holds what the scenarios share.
type runner struct {
	cfg      RunConfig
	topo     *Topology
	driver   *Driver
	redis    RedisCounters
	progress *progress
}

func runScenarios(ctx context.Context, cfg RunConfig, topo *Topology, r *report.Report, pg *progress) error {
	d, err := New(Config{BaseURL: topo.LBURL, Users: cfg.Users, Password: topo.Password, Path: cfg.Path, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	rn := &runner{cfg: cfg, topo: topo, driver: d, redis: RedisCounters{URL: topo.RedisURL}, progress: pg}

	// Memory per session: the gateways' RSS and Redis's used memory
	// across the initial login.
	pids := func() []int {
		insts, err := topo.Instances(ctx)
		if err != nil {
			return nil
		}
		return pidsOf(insts)
	}
	rssBefore := TotalRSS(pids())
	redisBefore, _ := rn.redis.UsedMemory(ctx)
	pg.note("logging in %d users", cfg.Users)
	login, err := d.LoginAll(ctx)
	r.Login = login
	if err != nil {
		return fmt.Errorf("initial login: %w", err)
	}
	rssAfter := TotalRSS(pids())
	redisAfter, _ := rn.redis.UsedMemory(ctx)
	r.Memory = report.Memory{GatewayRSSDeltaBytes: rssAfter - rssBefore, RedisUsedDeltaBytes: redisAfter - redisBefore}
	if n := login.Users - login.Failures; n > 0 {
		r.Memory.PerSessionBytes = math.Round(float64(max(0, r.Memory.RedisUsedDeltaBytes)) / float64(n))
		r.Memory.GatewayPerLoginBytes = math.Round(float64(r.Memory.GatewayRSSDeltaBytes) / float64(n))
	}

	for _, name := range cfg.Scenarios {
		var s report.Scenario
		var err error
		switch name {
		case ScenarioSteady:
			s, err = rn.load(ctx, name, cfg.Rate, cfg.Duration, nil)
		case ScenarioFailover:
			s, err = rn.failover(ctx)
		case ScenarioRedisOutage:
			s, err = rn.redisOutage(ctx)
		case ScenarioRevocation:
			s, err = rn.revocation(ctx)
		case ScenarioCapacity:
			s, err = rn.capacity(ctx)
		}
		s.Name = name
		if err != nil {
			return fmt.Errorf("scenario %s: %w", name, err)
		}
		r.Scenarios = append(r.Scenarios, s)
	}
	return nil
}

// load runs one constant-rate phase and measures everything around it:
// Redis commands, gateway CPU and memory. The returned phase result is
// handed to inspect (may be nil) before the summary is built.
func (rn *runner) load(ctx context.Context, name string, rate float64, dur time.Duration, hooks []Hook, inspect ...func(*PhaseResult, *report.Scenario)) (report.Scenario, error) {
	cmdsBefore, cmdErr := rn.redis.Commands(ctx)
	sampler := NewSampler(func(ctx context.Context) ([]int, error) {
		insts, err := rn.topo.Instances(ctx)
		if err != nil {
			return nil, err
		}
		return pidsOf(insts), nil
	})
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); sampler.Run(sctx, 500*time.Millisecond) }()
	go func() { defer wg.Done(); rn.progress.follow(sctx, name, dur, rn.driver) }()
	pr, err := rn.driver.Run(ctx, Phase{Name: name, Rate: rate, Duration: dur, Hooks: hooks})
	sampler.Sample(ctx)
	stop()
	wg.Wait()
	if err != nil {
		return report.Scenario{Name: name}, err
	}
	s := pr.Summary()
	cpu, peak := sampler.Result()
	s.Gateway = report.Gateway{CPUSeconds: round3(cpu.Seconds()), PeakRSSBytes: peak}
	if s.Requests > 0 {
		s.Gateway.CPUPerRequestUs = round3(float64(cpu.Microseconds()) / float64(s.Requests))
	}
	if cmdsAfter, err := rn.redis.Commands(ctx); cmdErr == nil && err == nil && s.Requests > 0 {
		delta, total := commandDelta(cmdsBefore, cmdsAfter)
		s.RedisCommands = delta
		s.RedisCommandsPerRequest = report.Float(round3(float64(total) / float64(s.Requests)))
	}
	for _, f := range inspect {
		f(pr, &s)
	}
	return s, nil
}

func eventAt(pr *PhaseResult, typ string) (time.Duration, bool) {
	for _, ev := range pr.Events {
		if ev.Type == typ {
			return time.Duration(ev.AtS * float64(time.Second)), true
		}
	}
	return 0, false
}

func (rn *runner) failover(ctx context.Context) (report.Scenario, error) {
	insts, err := rn.topo.Instances(ctx)
	if err != nil {
		return report.Scenario{}, err
	}
	if len(insts) == 0 {
		return report.Scenario{}, errors.New("the lb lists no instance")
	}
	victim := insts[len(insts)/2].ID
	var pinned []string
	dur := rn.cfg.Duration
	hooks := []Hook{
		{At: dur / 3, Type: "kill", Do: func(ctx context.Context) (string, error) {
			pinned = rn.driver.PinnedTo(victim)
			rn.progress.note("killing %s (SIGKILL via the lb admin API); %d users were last served by it", victim, len(pinned))
			return victim, rn.topo.Kill(ctx, victim)
		}},
		{At: 2 * dur / 3, Type: "revive", Do: func(ctx context.Context) (string, error) {
			rn.progress.note("reviving %s", victim)
			return victim, rn.topo.Revive(ctx, victim)
		}},
	}
	return rn.load(ctx, ScenarioFailover, rn.cfg.Rate, dur, hooks, func(pr *PhaseResult, s *report.Scenario) {
		killAt, _ := eventAt(pr, "kill")
		reviveAt, ok := eventAt(pr, "revive")
		if !ok {
			reviveAt = pr.Duration + time.Hour
		}
		lost := pr.LostUsers(killAt)
		f := &report.Failover{
			KilledInstance: victim, KillAtS: round3(killAt.Seconds()), ReviveAtS: round3(reviveAt.Seconds()),
			PinnedUsers: nonNil(pinned), LostUsers: nonNil(lost),
			RecoveryS: report.Recovery(s.Timeline, killAt.Seconds()),
		}
		for _, u := range pinned {
			if slices.Contains(lost, u) {
				f.PinnedAndLost++
			} else {
				f.PinnedNotLost++
			}
		}
		f.LostNotPinned = len(lost) - f.PinnedAndLost
		for _, rec := range pr.Records {
			if rec.At < killAt || rec.At >= reviveAt {
				continue
			}
			if rec.Class != ClassOK {
				f.WindowErrors++
			}
			dead := rec.Class == ClassTransport || rec.Code == http.StatusBadGateway || rec.Code == http.StatusGatewayTimeout
			if dead && (rec.Instance == "" || rec.Instance == victim) {
				f.DeadInstanceRequests++
			}
		}
		s.Failover = f
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (rn *runner) redisOutage(ctx context.Context) (report.Scenario, error) {
	srv := rn.topo.Redis
	if srv == nil {
		return report.Scenario{Skipped: true, SkipReason: "Redis is external (REDIS_URL): the harness does not stop a Redis it does not own"}, nil
	}
	if srv.Kind == redisserver.KindEmbedded {
		rn.progress.note("warning: Redis is the embedded fallback; its outage behaves like a real one but timings differ")
	}
	dur := rn.cfg.Duration
	hooks := []Hook{
		{At: dur / 3, Type: "redis-stop", Do: func(ctx context.Context) (string, error) {
			rn.progress.note("stopping Redis (SIGKILL)")
			return "", srv.Stop()
		}},
		{At: 2 * dur / 3, Type: "redis-start", Do: func(ctx context.Context) (string, error) {
			rn.progress.note("restarting Redis (empty: no persistence)")
			return "", srv.Restart(ctx)
		}},
	}
	s, err := rn.load(ctx, ScenarioRedisOutage, rn.cfg.Rate, dur, hooks, func(pr *PhaseResult, s *report.Scenario) {
		stopAt, _ := eventAt(pr, "redis-stop")
		startAt, ok := eventAt(pr, "redis-start")
		if !ok {
			startAt = pr.Duration + time.Hour
		}
		o := &report.RedisOutage{StopAtS: round3(stopAt.Seconds()), StartAtS: round3(startAt.Seconds()),
			RecoveryS: report.Recovery(s.Timeline, startAt.Seconds())}
		for _, rec := range pr.Records {
			if rec.At < stopAt || rec.At >= startAt {
				continue
			}
			o.DuringRequests++
			if rec.Class == ClassOK {
				o.DuringOK++
			}
			add(&o.DuringErrors, rec.Class)
		}
		s.RedisOutage = o
	})
	// A restarted Redis has reset its command counters: no per-request figure.
	s.RedisCommandsPerRequest, s.RedisCommands = nil, nil
	return s, err
}

func (rn *runner) revocation(ctx context.Context) (report.Scenario, error) {
	if rn.cfg.Strategy == "none" {
		return report.Scenario{Skipped: true, SkipReason: "the none strategy has no credential to revoke"}, nil
	}
	insts, err := rn.topo.Instances(ctx)
	if err != nil {
		return report.Scenario{}, err
	}
	var addrs []string
	for _, in := range insts {
		if in.State == "up" || in.State == "" {
			a := in.Address
			if !strings.Contains(a, "://") {
				a = "http://" + a
			}
			addrs = append(addrs, a)
		}
	}
	n := rn.cfg.RevocationSample
	rn.progress.note("revocation: logging out %d users, polling %d instances directly", n, len(addrs))
	lags, notRevoked, err := MeasureRevocation(ctx, rn.driver, n, addrs, rn.cfg.Path, rn.cfg.RevocationTimeout)
	if err != nil {
		return report.Scenario{}, err
	}
	// Log the sampled users back in so the scenarios after this one see
	// every user with a valid credential.
	for i := range n {
		if _, err := rn.driver.loginUser(ctx, i); err != nil {
			return report.Scenario{}, fmt.Errorf("log user %s back in after revocation: %w", UserName(i), err)
		}
	}
	return report.Scenario{Revocation: &report.Revocation{
		Sampled: n, Instances: len(addrs), TimeoutS: rn.cfg.RevocationTimeout.Seconds(),
		Lag: report.Summarize(lags), NotRevoked: notRevoked, Pairs: n * len(addrs),
	}}, nil
}

// MeasureRevocation logs out users 0..n-1 through the lb and polls every
// instance address (base URLs) directly with each logged-out credential
// until it answers 401. It returns the lags of the (user, instance) pairs
// that rejected within timeout and the number that did not.
func MeasureRevocation(ctx context.Context, d *Driver, n int, instances []string, path string, timeout time.Duration) ([]time.Duration, int, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	var (
		mu         sync.Mutex
		lags       []time.Duration
		notRevoked int
		wg         sync.WaitGroup
	)
	for i := range n {
		cred, err := d.Logout(ctx, i)
		if err != nil {
			return nil, 0, err
		}
		loggedOut := time.Now()
		for _, base := range instances {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lag, ok := pollUntilRejected(ctx, client, base+path, cred, loggedOut, timeout)
				mu.Lock()
				defer mu.Unlock()
				if ok {
					lags = append(lags, lag)
				} else {
					notRevoked++
				}
			}()
		}
	}
	wg.Wait()
	return lags, notRevoked, ctx.Err()
}

func pollUntilRejected(ctx context.Context, c *http.Client, url string, cred http.Header, since time.Time, timeout time.Duration) (time.Duration, bool) {
	deadline := since.Add(timeout)
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, false
		}
		for k, v := range cred {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return time.Since(since), true
			}
		}
		select {
		case <-ctx.Done():
			return 0, false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return 0, false
}

func (rn *runner) capacity(ctx context.Context) (report.Scenario, error) {
	bound := float64(rn.cfg.CapacityP99) / 1e6
	deadline := time.Now().Add(rn.cfg.CapacityBudget)
	c, err := searchCapacity(rn.cfg.Rate, bound,
		func() bool { return time.Now().Add(rn.cfg.CapacityStep).Before(deadline.Add(time.Second)) },
		func(rate float64) (report.CapacityStep, error) {
			rn.progress.note("capacity: trying %v req/s", rate)
			s, err := rn.load(ctx, ScenarioCapacity, rate, rn.cfg.CapacityStep, nil)
			if err != nil {
				return report.CapacityStep{}, err
			}
			st := report.CapacityStep{Rate: rate, Achieved: s.AchievedRate, P99: s.Latency.P99}
			if s.Requests > 0 {
				st.ErrorRate = round3(float64(s.Errors.Total()) / float64(s.Requests))
			}
			return st, nil
		})
	if err != nil {
		return report.Scenario{}, err
	}
	return report.Scenario{Capacity: c}, nil
}

// searchCapacity finds the highest rate passing the bound: p99 ≤ boundMs,
// error rate < 1%, achieved ≥ 95% of the rate. It doubles from start
// while steps pass (halves while none has), then bisects between the
// highest pass and the lowest failure until they are within 15%, for at
// most 10 steps and while more time is left.
func searchCapacity(start, boundMs float64, more func() bool, try func(rate float64) (report.CapacityStep, error)) (*report.Capacity, error) {
	c := &report.Capacity{BoundP99Ms: boundMs}
	lo, hi := 0.0, 0.0 // highest passing rate, lowest failing rate
	rate := start
	for step := 0; step < 10 && more(); step++ {
		st, err := try(rate)
		if err != nil {
			return nil, err
		}
		st.Rate = rate
		st.Pass = st.P99 <= boundMs && st.ErrorRate < 0.01 && st.Achieved >= 0.95*rate
		c.Steps = append(c.Steps, st)
		if st.Pass {
			lo, c.MaxRate = rate, rate
		} else {
			hi = rate
		}
		switch {
		case hi == 0:
			rate *= 2
		case lo == 0:
			if rate /= 2; rate < 1 {
				return c, nil
			}
		default:
			if hi <= lo*1.15 {
				return c, nil
			}
			rate = math.Round((lo + hi) / 2)
		}
	}
	return c, nil
}
