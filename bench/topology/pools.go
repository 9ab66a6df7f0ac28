package topology

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/measure"
	"github.com/authlab/authlab/internal/netutil"
	"github.com/authlab/authlab/internal/redisx/redisserver"
	"github.com/authlab/authlab/lb"
)

// PoolSpec describes one gateway pool of a multi-pool topology: its own
// small lb in front of Instances gateways of one strategy.
type PoolSpec struct {
	// Name identifies the pool (unique; "none" and "none-b" for the A/A
	// pair of the control group).
	Name     string
	Strategy string
	// Policy is its lb's policy (default catalog.DefaultPolicy(Strategy):
	// sticky for a strategy whose sessions live in one instance).
	Policy    string
	Instances int
	// GatewayArgs are extra flags for the pool's gateways.
	GatewayArgs []string
}

// PoolsConfig describes a topology of several gateway pools sharing one
// Redis, one auth service and one backend.
type PoolsConfig struct {
	// Exe is the authlab binary the processes are started from.
	Exe   string
	Pools []PoolSpec
	// SeedUsers is the number of users the auth service seeds (every pool
	// logs in its own credentials for the same names).
	SeedUsers  int
	BcryptCost int
	// RedisURL, when set, is an external Redis (not started, not stopped).
	RedisURL string
	// UpstreamNet, when set, puts a fault-injecting proxy before every
	// gateway of every pool (each pool's lb runs its own; netem.go).
	UpstreamNet *UpstreamNet
	// LogLevel of every child (default warn).
	LogLevel string
	// Output receives the children's stdout and stderr (default discarded).
	Output io.Writer
	Logger *slog.Logger

	reserve func() (string, error)
}

// Validate checks c and fills defaults.
func (c *PoolsConfig) Validate() error {
	if c.Exe == "" {
		return errors.New("topology: no authlab executable")
	}
	if len(c.Pools) == 0 {
		return errors.New("topology: no pool")
	}
	seen := map[string]bool{}
	for i := range c.Pools {
		p := &c.Pools[i]
		if p.Name == "" || strings.ContainsAny(p.Name, " /") {
			return fmt.Errorf("topology: pool %d: bad name %q", i, p.Name)
		}
		if seen[p.Name] {
			return fmt.Errorf("topology: pool %q twice", p.Name)
		}
		seen[p.Name] = true
		if !catalog.Known(p.Strategy) {
			return fmt.Errorf("topology: pool %s: unknown strategy %q (want one of %s)", p.Name, p.Strategy, strings.Join(catalog.Strategies(), ", "))
		}
		if p.Policy == "" {
			p.Policy = catalog.DefaultPolicy(p.Strategy)
		}
		if !slices.Contains(catalog.Policies(), p.Policy) {
			return fmt.Errorf("topology: pool %s: unknown policy %q", p.Name, p.Policy)
		}
		if p.Instances < 1 || p.Instances > MaxInstances {
			return fmt.Errorf("topology: pool %s: instances must be 1..%d, got %d", p.Name, MaxInstances, p.Instances)
		}
	}
	if c.SeedUsers < 1 {
		return fmt.Errorf("topology: seed users must be ≥ 1, got %d", c.SeedUsers)
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = 4
	}
	return c.UpstreamNet.validate()
}

// Pools is a running Redis + auth + backend and one lb with its gateways
// per pool. Every process shares one set of secrets.
type Pools struct {
	// Pools are the running pools, in the order of PoolsConfig.Pools.
	Pools []*Pool
	// Password of every seeded user.
	Password string
	// RedisURL is the Redis every gateway uses; Redis is the harness's own
	// (nil when external); RedisKind and RedisVersion describe it.
	RedisURL                string
	Redis                   *redisserver.Server
	RedisKind, RedisVersion string
	// AuthURL and BackendURL of the shared services.
	AuthURL, BackendURL string

	cfg   PoolsConfig
	procs *Group
}

// Pool is one running pool: its lb and the gateways the lb started. It
// satisfies the scenario package's Gateways (Instances, Kill, Revive).
type Pool struct {
	Spec PoolSpec
	// LBURL is the pool's data plane, LBAdminURL its lb's admin plane.
	LBURL, LBAdminURL string

	admin *LBAdmin
	seen  seenPIDs // every gateway pid the lb reported, for teardown
}

// StartPools starts the shared services, then every pool's lb (which
// starts its gateways) at once, and waits until each lb lists all its
// gateways. On error everything started is torn down.
func StartPools(ctx context.Context, cfg PoolsConfig) (ps *Pools, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	procs, err := NewGroup(GroupConfig{Exe: cfg.Exe, LogLevel: cfg.LogLevel, Output: cfg.Output, Logger: cfg.Logger, reserve: cfg.reserve})
	if err != nil {
		return nil, err
	}
	ps = &Pools{cfg: cfg, procs: procs, Password: procs.Secrets().Password}
	defer func() {
		if err != nil {
			ps.Close()
			ps = nil
		}
	}()
	r, err := startRedis(ctx, cfg.RedisURL, procs.cfg.Logger)
	if err != nil {
		return ps, err
	}
	ps.Redis, ps.RedisURL, ps.RedisKind, ps.RedisVersion = r.server, r.url, r.kind, r.version
	if ps.AuthURL, err = procs.StartAuth(ctx, cfg.SeedUsers, cfg.BcryptCost); err != nil {
		return ps, err
	}
	if ps.BackendURL, err = procs.StartBackend(ctx); err != nil {
		return ps, err
	}
	ps.Pools = make([]*Pool, len(cfg.Pools))
	g, gctx := errgroup.WithContext(ctx)
	for i, spec := range cfg.Pools {
		g.Go(func() error {
			p, err := ps.startPool(gctx, spec)
			ps.Pools[i] = p
			return err
		})
	}
	return ps, g.Wait()
}

// startPool starts one pool's lb with its gateways and checks it lists
// them all.
func (ps *Pools) startPool(ctx context.Context, spec PoolSpec) (*Pool, error) {
	_, data, admin, err := ps.procs.StartLB(ctx, LB{
		Name: "lb-" + spec.Name, Policy: spec.Policy, Instances: spec.Instances, Args: ps.cfg.UpstreamNet.lbArgs(),
		Gateways: Gateways{Strategy: spec.Strategy, AuthURL: ps.AuthURL, BackendURL: ps.BackendURL,
			RedisURL: ps.RedisURL, Args: spec.GatewayArgs},
	})
	if err != nil {
		return nil, fmt.Errorf("pool %s: %w", spec.Name, err)
	}
	p := &Pool{Spec: spec, LBURL: "http://" + data, LBAdminURL: "http://" + admin}
	p.admin = NewLBAdmin(p.LBAdminURL, ps.procs.Secrets().AdminToken)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := netutil.WaitHTTP(wctx, p.LBAdminURL+"/healthz"); err != nil {
		return p, fmt.Errorf("pool %s: lb admin port: %w", spec.Name, err)
	}
	insts, err := p.Instances(ctx)
	if err != nil {
		return p, fmt.Errorf("pool %s: lb admin API: %w", spec.Name, err)
	}
	if len(insts) != spec.Instances {
		return p, fmt.Errorf("pool %s: lb reports %d instances, want %d", spec.Name, len(insts), spec.Instances)
	}
	return p, nil
}

// Pool returns the pool called name, or nil.
func (ps *Pools) Pool(name string) *Pool {
	for _, p := range ps.Pools {
		if p != nil && p.Spec.Name == name {
			return p
		}
	}
	return nil
}

// Close tears everything down as Topology.Close does: every process
// group, last started first, then any gateway an lb reported that is
// still alive, then Redis. It is safe to call twice.
func (ps *Pools) Close() error {
	var pids []int
	for _, p := range ps.Pools {
		if p != nil {
			pids = append(pids, p.seen.list()...)
		}
	}
	ps.procs.Stop()
	killSurvivors(pids, ps.procs.cfg.Logger)
	if ps.Redis != nil {
		err := ps.Redis.Stop()
		ps.Redis = nil
		return err
	}
	return nil
}

// Instances lists the pool's gateways through its lb's admin API.
func (p *Pool) Instances(ctx context.Context) ([]lb.InstanceInfo, error) {
	return p.seen.instances(ctx, p.admin)
}

// GatewayPIDs lists the process ids of the pool's gateways.
func (p *Pool) GatewayPIDs(ctx context.Context) ([]int, error) {
	insts, err := p.Instances(ctx)
	if err != nil {
		return nil, err
	}
	return measure.PIDs(insts), nil
}

// Kill SIGKILLs gateway id through the pool's lb admin API.
func (p *Pool) Kill(ctx context.Context, id string) error {
	return p.admin.Kill(ctx, id, lb.ModeSIGKILL)
}

// Revive starts gateway id again through the pool's lb admin API.
func (p *Pool) Revive(ctx context.Context, id string) error {
	if err := p.admin.Revive(ctx, id); err != nil {
		return err
	}
	_, _ = p.Instances(ctx)
	return nil
}

// sharedRedis is the Redis of a topology: an external one, or one started
// (server set).
type sharedRedis struct {
	server             *redisserver.Server
	url, kind, version string
}

// startRedis uses the external Redis at external when given, else starts
// one.
func startRedis(ctx context.Context, external string, logger *slog.Logger) (sharedRedis, error) {
	if external != "" {
		return sharedRedis{url: external, kind: redisserver.KindExternal, version: measure.RedisVersion(ctx, external)}, nil
	}
	srv, err := redisserver.Start(ctx, logger)
	if err != nil {
		return sharedRedis{}, fmt.Errorf("start redis: %w", err)
	}
	return sharedRedis{server: srv, url: srv.URL(), kind: srv.Kind, version: srv.Version}, nil
}
