// Package paired runs the decision-grade latency comparison: every
// strategy's gateway pool, plus a second pool of the control strategy (the
// A/A pair), loaded at the same moment by one attack that interleaves
// their requests, in rounds on fresh topologies. Ratios to the control are
// taken within each round, then summarised with bootstrap intervals and
// labelled against the A/A noise floor (see Summarize).
//
// One lb per pool (topology.StartPools), not one lb routing by path: the
// lb stays as it is, each pool gets its strategy's own policy (sticky for
// sessions held in one instance), and every pool pays for an identical lb
// hop, which the ratios cancel.
package paired

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authlab/authlab/bench"
	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/measure"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/bench/topology"
)

// AASuffix names the control's second pool: "none" and "none-b".
const AASuffix = "-b"

// MaxRounds bounds Config.Rounds.
const MaxRounds = 100

// Config configures a paired run.
type Config struct {
	// Strategies to compare; the control is added when missing, and its
	// A/A twin always.
	Strategies []string
	Rounds     int
	// Rate is each pool's request rate; the attack sends Rate × pools.
	Rate float64
	// Duration of each round's measured window; Warmup of the unmeasured
	// load before it (default 2 s; negative: none).
	Duration time.Duration
	Warmup   time.Duration
	// Users per pool, each logged in through its pool.
	Users int
	// Instances per pool.
	Instances   int
	BcryptCost  int
	Path        string
	GatewayArgs []string
	// OutDir is the results root; the run goes to OutDir/paired/<run-id>.
	OutDir string
	// Exe is the authlab binary to start the processes from.
	Exe string
	// RedisURL, when set, is an external Redis.
	RedisURL string
	// UpstreamLatency (± UpstreamJitter) is added to every lb↔gateway
	// round trip of every pool (topology.UpstreamNet), so all pools pay
	// it alike.
	UpstreamLatency, UpstreamJitter time.Duration
	// Seed of the interleaving and the bootstrap (default: from the clock,
	// recorded).
	Seed uint64
	// Analysis knobs (defaults: 2000 resamples, 95%, DefaultMinNoiseFloor).
	Resamples     int
	MinNoiseFloor float64
	// Flags are recorded as given.
	Flags    map[string]string
	Progress io.Writer
	Terminal bool
	Logger   *slog.Logger
}

// Validate checks c and fills defaults.
func (c *Config) Validate() error {
	ctrl := catalog.Control()
	var list []string
	for _, s := range c.Strategies {
		s = strings.TrimSpace(s)
		if s == "" || slices.Contains(list, s) {
			continue
		}
		if !catalog.Known(s) {
			return fmt.Errorf("unknown strategy %q (want some of %s)", s, strings.Join(catalog.Strategies(), ","))
		}
		list = append(list, s)
	}
	if !slices.Contains(list, ctrl) {
		list = append([]string{ctrl}, list...)
	}
	slices.SortStableFunc(list, func(a, b string) int { return catalog.Rank(a) - catalog.Rank(b) })
	c.Strategies = list
	if c.Rounds < 1 || c.Rounds > MaxRounds {
		return fmt.Errorf("rounds must be 1..%d, got %d", MaxRounds, c.Rounds)
	}
	if c.Rate <= 0 {
		return fmt.Errorf("rate must be positive, got %v", c.Rate)
	}
	if c.Duration < 2*time.Second {
		return fmt.Errorf("duration must be at least 2s, got %s", c.Duration)
	}
	if c.Warmup == 0 {
		c.Warmup = 2 * time.Second
	}
	if c.Users < 1 || c.Users > load.MaxUsers {
		return fmt.Errorf("users must be 1..%d, got %d", load.MaxUsers, c.Users)
	}
	if c.Instances < 1 || c.Instances > topology.MaxInstances {
		return fmt.Errorf("instances must be 1..%d, got %d", topology.MaxInstances, c.Instances)
	}
	if c.Exe == "" {
		return errors.New("no authlab executable")
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = 4
	}
	pools := c.poolsConfig(nil, nil) // its own checks (upstream latency) before any round
	if err := pools.Validate(); err != nil {
		return err
	}
	if c.Path == "" {
		c.Path = load.DefaultPath
	}
	if c.OutDir == "" {
		c.OutDir = "results"
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Resamples <= 0 {
		c.Resamples = 2000
	}
	if c.MinNoiseFloor <= 0 {
		c.MinNoiseFloor = DefaultMinNoiseFloor
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Pools returns the pools of c's strategies: the control, its A/A twin,
// then the others, each with its strategy's lb policy.
func (c *Config) Pools() []topology.PoolSpec {
	ctrl := catalog.Control()
	var out []topology.PoolSpec
	add := func(name, strategy string) {
		out = append(out, topology.PoolSpec{Name: name, Strategy: strategy, Policy: catalog.DefaultPolicy(strategy),
			Instances: c.Instances, GatewayArgs: c.GatewayArgs})
	}
	add(ctrl, ctrl)
	add(ctrl+AASuffix, ctrl)
	for _, s := range c.Strategies {
		if s != ctrl {
			add(s, s)
		}
	}
	return out
}

// Run runs c.Rounds rounds, each on a fresh topology, and writes
// paired.json, paired.md and the charts into OutDir/paired/<run-id>. It
// returns the run and its directory; the rounds done so far are written
// when a later one fails.
func Run(ctx context.Context, cfg Config) (*report.PairedRun, string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, "", err
	}
	started := time.Now().UTC()
	runID, dir, err := makeRunDir(filepath.Join(cfg.OutDir, report.PairedDir), started)
	if err != nil {
		return nil, "", err
	}
	logf, err := os.Create(filepath.Join(dir, "topology.log"))
	if err != nil {
		return nil, dir, fmt.Errorf("create topology log: %w", err)
	}
	defer logf.Close()
	specs := cfg.Pools()
	run := newRun(ctx, cfg, runID, started, specs)
	progress := load.NewProgress(cfg.Progress, cfg.Terminal, "paired")
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed>>1|1))
	var runErr error
	for r := 1; r <= cfg.Rounds; r++ {
		progress.Note("round %d/%d: %d pools (%s) × %d instances, %v req/s each for %s (+%s warm-up); output → %s",
			r, cfg.Rounds, len(specs), poolNames(specs), cfg.Instances, cfg.Rate, cfg.Duration, max(0, cfg.Warmup), logf.Name())
		round, err := runRound(ctx, cfg, r, specs, logf, rng, progress, run)
		if err != nil {
			runErr = fmt.Errorf("round %d: %w", r, err)
			break
		}
		run.Rounds = append(run.Rounds, round)
	}
	progress.Done()
	run.FinishedAt = time.Now().UTC()
	if len(run.Rounds) == 0 {
		return run, dir, runErr
	}
	var warnings []string
	run.Summary, warnings = Summarize(run.Rounds, run.Pools, run.ControlPool, run.AAPool,
		Options{Resamples: cfg.Resamples, MinNoiseFloor: cfg.MinNoiseFloor, Seed: cfg.Seed})
	run.Warnings = append(run.Warnings, warnings...)
	if err := report.WritePairedRun(dir, run); err != nil {
		return run, dir, errors.Join(runErr, err)
	}
	return run, dir, runErr
}

func newRun(ctx context.Context, cfg Config, runID string, started time.Time, specs []topology.PoolSpec) *report.PairedRun {
	run := &report.PairedRun{
		SchemaVersion: report.PairedSchemaVersion, RunID: runID, StartedAt: started,
		Settings: report.PairedSettings{
			Strategies: cfg.Strategies, Rounds: cfg.Rounds, RatePerPool: cfg.Rate, TotalRate: cfg.Rate * float64(len(specs)),
			DurationS: cfg.Duration.Seconds(), WarmupS: max(0, cfg.Warmup).Seconds(), UsersPerPool: cfg.Users,
			Instances: cfg.Instances, BcryptCost: cfg.BcryptCost, Path: cfg.Path,
			Interleave: "one constant-rate attack over every pool in shuffled blocks: each block of one request per pool, in random order",
			Seed:       cfg.Seed, Resamples: cfg.Resamples, Level: 0.95, MinNoiseFloor: cfg.MinNoiseFloor, Flags: cfg.Flags,
			Network: report.NetworkOf(cfg.UpstreamLatency, cfg.UpstreamJitter, 0, 0),
		},
		Environment: bench.CaptureEnvironment(ctx),
		ControlPool: specs[0].Name, AAPool: specs[1].Name,
	}
	for _, s := range specs {
		run.Pools = append(run.Pools, report.PoolInfo{Pool: s.Name, Strategy: s.Strategy, Policy: s.Policy, Instances: s.Instances})
	}
	return run
}

// runRound starts a fresh topology, logs every pool's users in through
// their pool, warms up, measures every pool at once, and tears down.
func runRound(ctx context.Context, cfg Config, n int, specs []topology.PoolSpec, logf io.Writer, rng *rand.Rand,
	progress *load.Progress, run *report.PairedRun) (report.PairedRound, error) {
	fmt.Fprintf(logf, "=== round %d ===\n", n)
	round := report.PairedRound{Round: n, StartedAt: time.Now().UTC()}
	ps, err := topology.StartPools(ctx, cfg.poolsConfig(specs, logf))
	if err != nil {
		return round, fmt.Errorf("start pools: %w", err)
	}
	defer ps.Close()
	if n == 1 {
		run.Environment.RedisKind, run.Environment.RedisVersion = ps.RedisKind, ps.RedisVersion
	}
	drivers := make([]*load.Driver, len(ps.Pools))
	for i, p := range ps.Pools {
		d, err := load.New(load.Config{BaseURL: p.LBURL, Users: cfg.Users, Password: ps.Password, Path: cfg.Path, Logger: cfg.Logger})
		if err != nil {
			return round, err
		}
		if _, err := d.LoginAll(ctx); err != nil {
			return round, fmt.Errorf("pool %s: login: %w", p.Spec.Name, err)
		}
		drivers[i] = d
	}
	if cfg.Warmup > 0 {
		if _, err := load.RunTogether(ctx, drivers, load.Phase{Name: "warm-up", Rate: cfg.Rate * float64(len(drivers)), Duration: cfg.Warmup}, rng); err != nil {
			return round, fmt.Errorf("warm-up: %w", err)
		}
	}
	samplers := make([]*measure.Sampler, len(ps.Pools))
	sctx, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, p := range ps.Pools {
		samplers[i] = measure.NewSampler(p.GatewayPIDs)
		wg.Go(func() { samplers[i].Run(sctx, time.Second) })
	}
	wg.Go(func() { progress.Follow(sctx, fmt.Sprintf("round %d", n), cfg.Duration, drivers[0]) })
	prs, err := load.RunTogether(ctx, drivers, load.Phase{Name: "paired", Rate: cfg.Rate * float64(len(drivers)), Duration: cfg.Duration}, rng)
	for _, s := range samplers {
		s.Sample(ctx)
	}
	stopSampling()
	wg.Wait()
	if err != nil {
		return round, err
	}
	for i, pr := range prs {
		s := pr.Summary()
		cpu, _ := samplers[i].Result()
		pool := report.PoolRound{
			Pool: ps.Pools[i].Spec.Name, Strategy: ps.Pools[i].Spec.Strategy,
			RequestedRate: s.RequestedRate, AchievedRate: s.AchievedRate, Requests: s.Requests, OK: s.OK,
			Errors: s.Errors, Latency: s.Latency, CredentialBytes: s.CredentialBytes, SessionsLost: s.SessionsLost,
			Load: s.Load, Warnings: s.Warnings,
		}
		if s.Requests > 0 {
			pool.GatewayCPUPerRequestUs = report.Round3(float64(cpu.Microseconds()) / float64(s.Requests))
		}
		for _, sec := range s.Timeline {
			pool.SecondP50Ms = append(pool.SecondP50Ms, sec.P50)
		}
		if e := s.Errors.Total(); e > 0 {
			round.Warnings = append(round.Warnings, fmt.Sprintf("pool %s: %d of %d requests failed", pool.Pool, e, s.Requests))
		}
		round.Pools = append(round.Pools, pool)
	}
	return round, nil
}

func poolNames(specs []topology.PoolSpec) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// makeRunDir creates root/<run-id>, the run id being the start time (with
// a suffix when a run of the same second exists).
func makeRunDir(root string, started time.Time) (runID, dir string, err error) {
	base := started.Format("20060102-150405")
	runID = base
	for i := 2; ; i++ {
		dir = filepath.Join(root, runID)
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			break
		}
		runID = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("create %s: %w", dir, err)
	}
	return runID, dir, nil
}

// poolsConfig is the topology of one round: specs (default c.Pools()),
// the children's output to logf.
func (c *Config) poolsConfig(specs []topology.PoolSpec, logf io.Writer) topology.PoolsConfig {
	if specs == nil {
		specs = c.Pools()
	}
	pc := topology.PoolsConfig{
		Exe: c.Exe, Pools: specs, SeedUsers: c.Users, BcryptCost: c.BcryptCost, RedisURL: c.RedisURL,
		Output: logf, Logger: c.Logger,
	}
	if c.UpstreamLatency != 0 || c.UpstreamJitter != 0 {
		pc.UpstreamNet = &topology.UpstreamNet{Latency: c.UpstreamLatency, Jitter: c.UpstreamJitter}
	}
	return pc
}
