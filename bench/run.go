// Package bench ties one benchmark run together: configuration →
// topology (package topology) → logged-in users (package load) →
// scenarios (package scenario) → report written (package report).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/measure"
	"github.com/authlab/authlab/bench/microbench"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/bench/scenario"
	"github.com/authlab/authlab/bench/topology"
)

// Config configures one `authlab bench` run. Each component validates
// its own part (topology.Config, scenario.Config, load.Config).
type Config struct {
	Strategy string
	// Scenarios to run (default scenario.DefaultNames()); they run in the
	// order of scenario.All, each once.
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
	RedisURL string
	// RedisDeployment is the Redis the harness starts otherwise:
	// topology.RedisSingle (default), RedisCluster or RedisSentinel (the
	// last two from local redis-server processes; redis-failover needs one).
	RedisDeployment string
	BcryptCost      int
	// Path is the request every user repeats (default load.DefaultPath).
	Path string
	// GatewayArgs are extra flags for every gateway.
	GatewayArgs []string
	// Revocation: users logged out, and how long to poll each instance.
	RevocationSample  int
	RevocationTimeout time.Duration
	// RevocationSpread, when > 0, logs the sampled users out at spread
	// token ages (scenario.Config.RevocationSpread).
	RevocationSpread time.Duration
	// Capacity: the p99 bound, the length of a step, and the time budget.
	CapacityP99    time.Duration
	CapacityStep   time.Duration
	CapacityBudget time.Duration
	// Cost: the rates measured and the length of each window (defaults
	// in scenario.Config).
	CostRates  []float64
	CostWindow time.Duration
	// Floor: measure the same load against a bare echo server on loopback
	// first (report.Floor). Micro: run the Go micro-benchmark of the
	// strategy's Authenticate after the scenarios (report.Micro).
	Floor bool
	Micro bool
	// UserSkew: 0 sends every user's requests in turn; > 1 draws users
	// from a Zipf distribution with that exponent, seeded with Seed.
	UserSkew float64
	Seed     uint64
	// RefreshAhead: users refresh their access token this long before it
	// expires (load.Config.RefreshAhead; 0: never, a 401 is a session lost).
	RefreshAhead time.Duration
	// Batch is recorded in the report: runs of one batch are rounds of
	// the same measurement (compare summarises them).
	Batch string
	// Failover: kill modes, lb retry settings, freeze length.
	Failover scenario.FailoverConfig
	// MixedLogoutShare and MixedRefreshAhead: the mixed scenario's share
	// of logout-then-login cycles and refresh-ahead margin (defaults in
	// scenario.Config).
	MixedLogoutShare  float64
	MixedRefreshAhead time.Duration
	// RedisLatency (± RedisJitter) is added to every gateway↔Redis round
	// trip by an in-process proxy (single Redis only); RedisRTTSteps are
	// the round trips the redis-rtt scenario sweeps (netconfig.go).
	RedisLatency, RedisJitter time.Duration
	RedisRTTSteps             []time.Duration
	// UpstreamLatency (± UpstreamJitter) is added to every lb↔gateway
	// round trip by a proxy the lb runs before each gateway it starts
	// (topology.UpstreamNet; netconfig.go). Independent of RedisLatency.
	UpstreamLatency, UpstreamJitter time.Duration
	// Flags are recorded in the report as given.
	Flags map[string]string
	// Progress receives the live progress line; Terminal says whether it is
	// a terminal (one rewritten line) or not (a plain line every 5 s).
	Progress io.Writer
	Terminal bool
	Logger   *slog.Logger
}

// Validate checks c and fills defaults, its components' included.
func (c *Config) Validate() error {
	if len(c.Scenarios) == 0 {
		c.Scenarios = scenario.DefaultNames()
	}
	ss, err := scenario.Select(c.Scenarios)
	if err != nil {
		return err
	}
	c.Scenarios = scenario.Names(ss)
	sc := c.scenarioConfig()
	if err := sc.Validate(); err != nil {
		return err
	}
	c.RevocationSample, c.RevocationTimeout = sc.RevocationSample, sc.RevocationTimeout
	c.CapacityP99, c.CapacityStep, c.CapacityBudget = sc.CapacityP99, sc.CapacityStep, sc.CapacityBudget
	c.CostRates, c.CostWindow = sc.CostRates, sc.CostWindow
	c.Failover = sc.Failover
	c.MixedLogoutShare, c.MixedRefreshAhead = sc.MixedLogoutShare, sc.MixedRefreshAhead
	lc := c.loadConfig("http://127.0.0.1", "")
	if err := lc.Validate(); err != nil {
		return err
	}
	tc := c.topologyConfig(nil)
	if err := tc.Validate(); err != nil {
		return err
	}
	c.Policy, c.BcryptCost = tc.Policy, tc.BcryptCost
	if c.OutDir == "" {
		c.OutDir = "results"
	}
	if c.Path == "" {
		c.Path = load.DefaultPath
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

func (c *Config) scenarioConfig() scenario.Config {
	return scenario.Config{
		Strategy: c.Strategy, Users: c.Users, Rate: c.Rate, Duration: c.Duration,
		RevocationSample: c.RevocationSample, RevocationTimeout: c.RevocationTimeout, RevocationSpread: c.RevocationSpread,
		CapacityP99: c.CapacityP99, CapacityStep: c.CapacityStep, CapacityBudget: c.CapacityBudget,
		CostRates: c.CostRates, CostWindow: c.CostWindow,
		Failover: c.Failover, RedisRTTSteps: c.RedisRTTSteps,
		MixedLogoutShare: c.MixedLogoutShare, MixedRefreshAhead: c.MixedRefreshAhead,
	}
}

func (c *Config) loadConfig(baseURL, password string) load.Config {
	return load.Config{BaseURL: baseURL, Users: c.Users, Password: password, Path: c.Path, Logger: c.Logger, Skew: c.UserSkew, Seed: c.Seed, RefreshAhead: c.RefreshAhead}
}

func (c *Config) topologyConfig(output io.Writer) topology.Config {
	return topology.Config{
		Exe: c.Exe, Strategy: c.Strategy, Instances: c.Instances, Policy: c.Policy,
		SeedUsers: c.Users, BcryptCost: c.BcryptCost, RedisURL: c.RedisURL, RedisDeployment: c.RedisDeployment,
		GatewayArgs: c.GatewayArgs, Output: output, Logger: c.Logger,
		LBArgs: c.lbArgs(), RedisNet: c.redisNet(), UpstreamNet: c.upstreamNet(),
	}
}

// lbArgs are the lb flags the scenarios need (the failover kill modes').
func (c *Config) lbArgs() []string {
	if slices.Contains(c.Scenarios, scenario.FailoverName) {
		return c.Failover.LBArgs()
	}
	return nil
}

// Run starts the topology, logs the users in, runs the scenarios, writes
// report.json, report.md and the charts into OutDir/<strategy>/<run-id>,
// and tears the topology down (also on error and when ctx ends). It
// returns the report and its directory.
func Run(ctx context.Context, cfg Config) (*report.Report, string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, "", err
	}
	started := time.Now().UTC()
	runID, dir, err := makeRunDir(cfg.OutDir, cfg.Strategy, started)
	if err != nil {
		return nil, "", err
	}
	logf, err := os.Create(filepath.Join(dir, "topology.log"))
	if err != nil {
		return nil, "", fmt.Errorf("create topology log: %w", err)
	}
	defer logf.Close()
	r := newReport(ctx, cfg, runID, started)
	progress := load.NewProgress(cfg.Progress, cfg.Terminal, cfg.Strategy)
	progress.Note("starting redis, auth, backend, lb with %d %s gateways (policy %s); children's output → %s",
		cfg.Instances, cfg.Strategy, cfg.Policy, logf.Name())
	topo, err := topology.Start(ctx, cfg.topologyConfig(logf))
	if err != nil {
		return nil, dir, fmt.Errorf("start topology: %w", err)
	}
	defer topo.Close()
	r.Environment.RedisKind, r.Environment.RedisVersion = topo.RedisKind, topo.RedisVersion

	runErr := logInAndRunScenarios(ctx, cfg, topo, r, progress)
	return finishRun(dir, r, progress, runErr)
}

// finishRun ends the progress line and writes the report of a run that
// measured at least one scenario; it returns the report, its directory
// and runErr joined with any write error.
func finishRun(dir string, r *report.Report, progress *load.Progress, runErr error) (*report.Report, string, error) {
	progress.Done()
	r.FinishedAt = time.Now().UTC()
	if runErr != nil && len(r.Scenarios) == 0 {
		return r, dir, runErr
	}
	if err := writeReport(dir, r); err != nil {
		return r, dir, errors.Join(runErr, err)
	}
	return r, dir, runErr
}

// makeRunDir creates outDir/<strategy>/<run-id>, the run id being the
// start time (with a suffix when a run of the same second exists).
func makeRunDir(outDir, strategy string, started time.Time) (runID, dir string, err error) {
	runID = started.Format("20060102-150405")
	dir = filepath.Join(outDir, strategy, runID)
	for i := 2; ; i++ {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			break
		}
		runID = fmt.Sprintf("%s-%d", started.Format("20060102-150405"), i)
		dir = filepath.Join(outDir, strategy, runID)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("create %s: %w", dir, err)
	}
	return runID, dir, nil
}

// newReport is the report's header: the run, its settings, the machine.
func newReport(ctx context.Context, cfg Config, runID string, started time.Time) *report.Report {
	return &report.Report{
		SchemaVersion: report.SchemaVersion,
		RunID:         runID,
		Strategy:      cfg.Strategy,
		StartedAt:     started,
		Settings: report.Settings{
			Strategy: cfg.Strategy, Policy: cfg.Policy, Instances: cfg.Instances, Users: cfg.Users,
			Rate: cfg.Rate, DurationS: cfg.Duration.Seconds(), Scenarios: cfg.Scenarios,
			BcryptCost: cfg.BcryptCost, Path: cfg.Path, CapacityP99Ms: float64(cfg.CapacityP99) / 1e6, Flags: cfg.Flags,
			Batch: cfg.Batch, Network: report.NetworkOf(cfg.UpstreamLatency, cfg.UpstreamJitter, cfg.RedisLatency, cfg.RedisJitter),
		},
		Environment: CaptureEnvironment(ctx),
	}
}

// logInAndRunScenarios logs the users in (measuring what their sessions
// cost) and runs the scenarios into r, against the topology it started.
func logInAndRunScenarios(ctx context.Context, cfg Config, topo *topology.Topology, r *report.Report, progress *load.Progress) error {
	d, err := load.New(cfg.loadConfig(topo.LBURL, topo.Password))
	if err != nil {
		return err
	}
	env := &scenario.Env{Config: cfg.scenarioConfig(), Driver: d, Gateways: topo, RedisURL: topo.RedisURL, Progress: progress,
		AdminUser: topo.AdminUser, AdminPassword: topo.AdminPassword}
	if topo.Redis != nil {
		env.Redis = topo.Redis
	}
	if topo.Replicated != nil {
		env.Replicated, env.RedisDeployment = topo.Replicated, cfg.RedisDeployment
	}
	if topo.RedisProxy != nil {
		env.RedisNet = topo.RedisProxy
	}
	return logInAndRun(ctx, cfg, env, r, topo.InstanceAdminToken, true)
}

// logInAndRun logs env's users in and runs the configured scenarios.
// gatewayToken reads the gateways' heap (none when ""); micro says whether
// the micro-benchmark may run here (with env's Redis).
func logInAndRun(ctx context.Context, cfg Config, env *scenario.Env, r *report.Report, gatewayToken string, micro bool) error {
	var err error
	progress := env.Progress
	progress.Note("logging in %d users", cfg.Users)
	if r.Login, r.Memory, err = logInAll(ctx, env, gatewayToken, cfg.Logger); err != nil {
		return fmt.Errorf("initial login: %w", err)
	}
	if cfg.Floor {
		r.Floor = measureFloor(ctx, cfg, progress)
	}
	ss, err := scenario.Select(cfg.Scenarios)
	if err != nil {
		return err
	}
	r.Scenarios, err = scenario.RunAll(ctx, env, ss)
	if cfg.Micro && micro && err == nil {
		progress.Note("micro-benchmark of %s's Authenticate", cfg.Strategy)
		r.Micro, err = microbench.Run(ctx, microbench.Config{Strategy: cfg.Strategy, RedisURL: env.RedisURL, Args: cfg.GatewayArgs})
		if err != nil {
			cfg.Logger.Warn("micro-benchmark failed; the report has none", "err", err)
			err = nil
		}
	}
	return err
}

// floorWindow bounds the floor's load phase.
const floorWindow = 10 * time.Second

// measureFloor runs the run's load (rate, users, path) for min(duration,
// 10 s) against a bare echo server; nil (with a warning) when it fails.
func measureFloor(ctx context.Context, cfg Config, progress *load.Progress) *report.Floor {
	dur := min(cfg.Duration, floorWindow)
	progress.Note("measurement floor: %v req/s for %s against a bare echo server", cfg.Rate, dur)
	f, err := load.MeasureFloor(ctx, load.Config{Users: cfg.Users, Path: cfg.Path, Logger: cfg.Logger}, cfg.Rate, dur)
	if err != nil {
		cfg.Logger.Warn("measurement floor failed; the report has none", "err", err)
		return nil
	}
	return f
}

// logInAll logs every user in and measures the memory their sessions take:
// the gateways' live heap after a forced GC (read with the gateways'
// admin token) across the second half of the logins, and their RSS and
// Redis's used memory across the whole login.
func logInAll(ctx context.Context, env *scenario.Env, adminToken string, logger *slog.Logger) (report.Login, report.Memory, error) {
	gatewayRSS := func() int64 {
		pids, _ := env.GatewayPIDs(ctx)
		return measure.TotalRSS(pids)
	}
	gatewayHeap := func() (measure.Heap, error) {
		if adminToken == "" {
			return measure.Heap{}, errors.New("the gateways' admin token is not known here")
		}
		insts, err := env.Gateways.Instances(ctx)
		if err != nil {
			return measure.Heap{}, err
		}
		return measure.GatewayHeaps(ctx, nil, insts, adminToken)
	}
	redis := measure.RedisCounters{URL: env.RedisURL}
	rssBefore := gatewayRSS()
	redisBefore, _ := redis.UsedMemory(ctx)
	// The heap is read across the second half of the logins only: the
	// first half has grown the gateways' connection pools and buffers,
	// which are no session's cost.
	var heapPerSession *float64
	login, err := env.Driver.LoginAllSplit(ctx, func(secondHalf func() int) {
		before, err1 := gatewayHeap()
		n := secondHalf()
		after, err2 := gatewayHeap()
		if err := errors.Join(err1, err2); err != nil {
			logger.Warn("gateways' heap not measured", "err", err)
			return
		}
		if n > 0 {
			heapPerSession = report.Float(math.Round(float64(after.HeapAllocBytes-before.HeapAllocBytes) / float64(n)))
		}
	})
	if err != nil {
		return login, report.Memory{}, err
	}
	rssAfter := gatewayRSS()
	redisAfter, _ := redis.UsedMemory(ctx)
	m := report.Memory{GatewayRSSDeltaBytes: rssAfter - rssBefore, RedisUsedDeltaBytes: redisAfter - redisBefore,
		GatewayHeapPerSessionBytes: heapPerSession}
	if n := login.Users - login.Failures; n > 0 {
		m.PerSessionBytes = math.Round(float64(max(0, m.RedisUsedDeltaBytes)) / float64(n))
		m.GatewayPerLoginBytes = math.Round(float64(m.GatewayRSSDeltaBytes) / float64(n))
	}
	return login, m, nil
}

// writeReport writes report.json, the charts and report.md into dir.
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
