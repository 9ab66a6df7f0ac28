// Package scale measures what sessions cost as their number grows: for
// each strategy, one gateway (behind the lb) holding 1k, 10k, 100k and a
// million sessions. At each size it reads the gateway's live heap after a
// GC and Redis's used_memory, prints a back-of-envelope estimate beside
// each (written from the data structures, not fitted to the measurement).
// Once every size is in place it probes /api/me at each size, users drawn
// from a Zipf distribution over the first n sessions (latency, and the
// opaque cache's hit ratio once the working set outgrows
// --opaque-cache-size). It ends with a login storm after a
// restart: real logins, password and bcrypt included, at rising rates
// until their p99 passes a bound.
//
// Sessions are minted by the preload path, named in the report: the
// gateway's POST /_admin/preload (started with --allow-preload) runs the
// strategy's own Login for the seeded users, without HTTP or bcrypt per
// session. A million logins through HTTP at bcrypt cost 4 take about half
// an hour on two cores; the preload takes seconds, and the sessions it
// makes are the ones a login makes.
//
// `authlab scale` writes scale.json, scale.md and scale-memory.png under
// <out>/scale/<id>/.
package scale

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/topology"
	"github.com/authlab/authlab/internal/redisx/redisserver"
	"github.com/authlab/authlab/services/gateway"
)

// creds are the minted credentials: tokens[i] is user first+i's, and
// expires[i] when it stops being accepted (Unix seconds, 0: no fixed
// expiry).
type creds struct {
	first   int
	tokens  []string
	expires []int64
}

func (c *creds) add(r gateway.PreloadResult) {
	c.tokens = append(c.tokens, r.Tokens...)
	c.expires = append(c.expires, r.Expires...)
	for len(c.expires) < len(c.tokens) {
		c.expires = append(c.expires, 0)
	}
}

// Dir is the directory under the results root that holds scale runs.
const Dir = "scale"

// MaxSessions bounds Config.Sizes (the auth service seeds at most a
// million users).
const MaxSessions = 1_000_000

// Config configures a scale run.
type Config struct {
	// Exe is the authlab binary the topology is started from.
	Exe string
	// Strategies are measured one after the other, each on a fresh
	// topology.
	Strategies []string
	// Sizes are the session counts, ascending (sessions accumulate).
	Sizes []int
	// BcryptCost of the seeded users (the storm's logins pay it).
	BcryptCost int
	// GatewayArgs are extra gateway flags (--opaque-cache-size …).
	GatewayArgs []string
	Probe       ProbeConfig
	Storm       StormConfig
	// OutDir is the results root; the run goes to OutDir/scale/<id>/.
	OutDir string
	Logger *slog.Logger
	// Progress receives one line per step (nil: none).
	Progress io.Writer
}

// ProbeConfig is the /api/me probe at each size.
type ProbeConfig struct {
	// Rate (requests/s) and Duration of the probe; Rate 0 skips it.
	Rate     float64
	Duration time.Duration
	// Skew is the Zipf exponent of the users drawn (> 1), 0 for uniform.
	Skew float64
	Seed uint64
}

// StormConfig is the login storm after a restart.
type StormConfig struct {
	// Rates are the login rates tried, ascending; empty skips the storm.
	Rates []float64
	// Step is how long each rate lasts.
	Step time.Duration
	// P99 is the bound: the storm stops at the first rate whose p99 passes
	// it (or that fails more than 1 % or falls behind).
	P99 time.Duration
}

// Validate reports the first problem with c and fills defaults.
func (c *Config) Validate() error {
	if c.Exe == "" {
		return errors.New("no authlab executable")
	}
	if len(c.Strategies) == 0 {
		return errors.New("no strategy")
	}
	for _, s := range c.Strategies {
		if _, ok := catalog.Describe(s); !ok {
			return fmt.Errorf("unknown strategy %q (want some of %v)", s, catalog.Strategies())
		}
	}
	if len(c.Sizes) == 0 {
		return errors.New("no size")
	}
	for i, n := range c.Sizes {
		if n < 1 || n > MaxSessions {
			return fmt.Errorf("size %d: must be 1..%d", n, MaxSessions)
		}
		if i > 0 && n <= c.Sizes[i-1] {
			return fmt.Errorf("sizes must ascend (%d after %d)", n, c.Sizes[i-1])
		}
	}
	if c.Probe.Rate < 0 || (c.Probe.Rate > 0 && c.Probe.Duration <= 0) {
		return fmt.Errorf("probe rate %v for %s: want a rate ≥ 0 and, with a rate, a positive duration", c.Probe.Rate, c.Probe.Duration)
	}
	if c.Probe.Skew != 0 && c.Probe.Skew <= 1 {
		return fmt.Errorf("probe skew %v: want > 1 (Zipf) or 0 (uniform)", c.Probe.Skew)
	}
	if len(c.Storm.Rates) > 0 && (c.Storm.Step <= 0 || c.Storm.P99 <= 0) {
		return errors.New("storm step and p99 bound must be positive")
	}
	for i, r := range c.Storm.Rates {
		if r <= 0 || (i > 0 && r <= c.Storm.Rates[i-1]) {
			return fmt.Errorf("storm rates must be positive and ascending, got %v", c.Storm.Rates)
		}
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = 4
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return nil
}

// Run measures every strategy of cfg and writes the run's files. It
// returns the run and its directory; a strategy that failed is recorded
// in its result and the others still run.
func Run(ctx context.Context, cfg Config) (*Result, string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, "", err
	}
	started := time.Now()
	id := started.Format("20060102-150405")
	dir := filepath.Join(cfg.OutDir, Dir, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("scale: %w", err)
	}
	res := &Result{
		ID: id, Started: started, Sizes: slices.Clone(cfg.Sizes), BcryptCost: cfg.BcryptCost,
		GatewayArgs: cfg.GatewayArgs, Probe: cfg.Probe, Storm: stormSettings(cfg.Storm),
		Minting: "preload: POST /_admin/preload on the gateway (--allow-preload) runs the strategy's own Login for each seeded user, without HTTP or bcrypt per session",
	}
	var errs []error
	for _, s := range cfg.Strategies {
		fmt.Fprintf(cfg.Progress, "scale: %s\n", s)
		sr, err := runStrategy(ctx, cfg, s)
		if err != nil {
			sr.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
			fmt.Fprintf(cfg.Progress, "scale: %s failed: %v\n", s, err)
		}
		res.Strategies = append(res.Strategies, sr)
		if ctx.Err() != nil {
			break
		}
	}
	res.Environment = environment(ctx)
	if err := write(dir, res); err != nil {
		errs = append(errs, err)
	}
	return res, dir, errors.Join(errs...)
}

// runStrategy measures one strategy on a fresh topology of one gateway.
func runStrategy(ctx context.Context, cfg Config, strategy string) (StrategyResult, error) {
	d, _ := catalog.Describe(strategy)
	sr := StrategyResult{Strategy: strategy, StateLives: d.StateLives}
	maxSize := cfg.Sizes[len(cfg.Sizes)-1]
	t, err := topology.Start(ctx, topology.Config{
		Exe: cfg.Exe, Strategy: strategy, Instances: 1, SeedUsers: maxSize + warmupSessions, BcryptCost: cfg.BcryptCost,
		GatewayArgs: append([]string{"--allow-preload"}, cfg.GatewayArgs...), Logger: cfg.Logger,
	})
	if err != nil {
		return sr, fmt.Errorf("start: %w", err)
	}
	defer t.Close()
	sr.RedisKind = t.RedisKind
	gw, err := newGateway(ctx, t)
	if err != nil {
		return sr, err
	}
	// The embedded fallback keeps no memory account (INFO memory): its
	// Redis side is not measured, and the report says so.
	m := &meter{gw: gw, redisURL: t.RedisURL, usesRedis: gw.caps.UsesRedis && t.RedisKind != redisserver.KindEmbedded}
	if err := warmUp(ctx, cfg.Probe, t.LBURL, gw, maxSize+1); err != nil {
		return sr, fmt.Errorf("warm-up: %w", err)
	}
	base, err := m.read(ctx)
	if err != nil {
		return sr, fmt.Errorf("baseline: %w", err)
	}
	sr.BaseHeapBytes, sr.BaseRedisBytes = base.heap, base.redis
	c := &creds{first: 1}
	if err := memorySeries(ctx, cfg, m, base, d.HeapPerSession, &sr, c); err != nil {
		return sr, err
	}
	if err := probeSeries(ctx, cfg, t.LBURL, gw, &sr, c); err != nil {
		return sr, err
	}
	if len(cfg.Storm.Rates) > 0 {
		storm, err := restartAndStorm(ctx, cfg.Storm, t, gw, maxSize)
		sr.Storm = storm
		if err != nil {
			return sr, fmt.Errorf("login storm: %w", err)
		}
		fmt.Fprintf(cfg.Progress, "scale: %s login storm: %s\n", strategy, storm.line())
	}
	return sr, nil
}

// memorySeries preloads up to each size in turn and measures memory
// there, into sr.Points; the credentials go to c. Nothing but preloads
// happens in between: a probe leaves connections and buffers behind (more
// of them the slower the machine answers), which would be charged to the
// next size's sessions.
func memorySeries(ctx context.Context, cfg Config, m *meter, base reading, heapEstimate func(int) float64, sr *StrategyResult, c *creds) error {
	for _, n := range cfg.Sizes {
		failed := 0
		if len(sr.Points) > 0 {
			failed = sr.Points[len(sr.Points)-1].PreloadFailed
		}
		pt, pr, err := measureSize(ctx, cfg, m, base, heapEstimate, len(c.tokens), failed, n)
		c.add(pr)
		if err != nil {
			return fmt.Errorf("%d sessions: %w", n, err)
		}
		fmt.Fprintf(cfg.Progress, "scale: %s at %d sessions: %s\n", sr.Strategy, n, pt.line())
		sr.Points = append(sr.Points, pt)
	}
	return nil
}

// probeSeries probes /api/me at each size of sr.Points, users drawn over
// the first n sessions, with all of them live.
func probeSeries(ctx context.Context, cfg Config, base string, gw *gatewayAdmin, sr *StrategyResult, c *creds) error {
	if cfg.Probe.Rate <= 0 {
		return nil
	}
	for i := range sr.Points {
		n := sr.Points[i].Sessions
		pr, err := probe(ctx, cfg.Probe, base, gw, c, n)
		if err != nil {
			return fmt.Errorf("probe over %d sessions: %w", n, err)
		}
		sr.Points[i].Probe = pr
		fmt.Fprintf(cfg.Progress, "scale: %s probe over %d sessions: %s\n", sr.Strategy, n, pr.line())
	}
	return nil
}

// warmupSessions are minted (for users after the measured ones) and
// probed before the baseline is read, so that what grows once (Redis and
// HTTP connection pools, buffers, the first table allocations) is in the
// baseline and not charged to the first size's sessions.
const warmupSessions = 1000

// warmUp mints warmupSessions sessions for users first… and probes them
// for a second.
func warmUp(ctx context.Context, pc ProbeConfig, base string, gw *gatewayAdmin, first int) error {
	pr, err := gw.preload(ctx, first, warmupSessions)
	if err != nil {
		return err
	}
	if pr.Minted == 0 {
		return fmt.Errorf("preload minted nothing (%s)", pr.FirstError)
	}
	if pc.Rate > 0 {
		pc.Duration = time.Second
		c := &creds{first: first}
		c.add(pr)
		if _, err := probe(ctx, pc, base, gw, c, len(c.tokens)); err != nil {
			return err
		}
	}
	return nil
}

// measureSize preloads sessions have+1..n and measures memory at n.
func measureSize(ctx context.Context, cfg Config, m *meter, base reading, heapEstimate func(int) float64, have, failedBefore, n int) (Point, gateway.PreloadResult, error) {
	pt := Point{Sessions: n}
	pr, err := m.gw.preload(ctx, have+1, n-have)
	if err != nil {
		return pt, pr, err
	}
	pt.PreloadSeconds, pt.PreloadFailed = pr.Seconds, failedBefore+pr.Failed
	if pr.Minted == 0 {
		return pt, pr, fmt.Errorf("preload minted nothing (%s)", pr.FirstError)
	}
	r, err := m.read(ctx)
	if err != nil {
		return pt, pr, err
	}
	live := float64(n - pt.PreloadFailed)
	pt.HeapBytes, pt.RedisBytes = r.heap, r.redis
	pt.HeapPerSession = float64(r.heap-base.heap) / live
	if heapEstimate != nil {
		e := heapEstimate(len(seedName(n)))
		pt.HeapEstimate = &e
	}
	if m.usesRedis {
		pt.RedisPerSession = float64(r.redis-base.redis) / live
		if e, err := redisEstimate(ctx, m.redisURL); err == nil {
			pt.RedisEstimate = &e
		} else {
			cfg.Logger.Warn("no Redis estimate", "err", err)
		}
	}
	return pt, pr, nil
}

func write(dir string, res *Result) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scale.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	chart := ""
	if err := SaveMemoryChart(res, filepath.Join(dir, MemoryChartFile)); err == nil {
		chart = MemoryChartFile
	}
	if err := os.WriteFile(filepath.Join(dir, "scale.md"), []byte(Markdown(res, chart)), 0o644); err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	return nil
}
