// Package topology starts and stops the processes of a benchmark run, all
// on loopback and all through the process supervisor (internal/proc):
// Redis, the auth and backend services, and the lb with its gateways.
//
// Its parts compose: a Group starts services that share one set of
// Secrets (StartAuth, StartBackend, StartGateway, StartLB, or any Service)
// and stops them together; LBAdmin drives an lb's admin API; Topology is
// the one-pool assembly `authlab bench`, `up` and `demo` use. Another
// assembly (several pools, or the lb benchmark's chain) is another
// arrangement of the same parts.
package topology

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/measure"
	"github.com/authlab/authlab/bench/netem"
	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/internal/netutil"
	"github.com/authlab/authlab/internal/proc"
	"github.com/authlab/authlab/internal/redisx/redisserver"
	"github.com/authlab/authlab/lb"
)

// MaxInstances bounds Config.Instances.
const MaxInstances = 64

// Config describes the processes to start.
type Config struct {
	// Exe is the authlab binary the processes are started from.
	Exe       string
	Strategy  string
	Instances int
	// Policy is the lb policy (default catalog.DefaultPolicy(Strategy)).
	Policy string
	// SeedUsers is the number of users the auth service seeds.
	SeedUsers int
	// BcryptCost of the seeded users' hashes (default 4, so logins do not
	// dominate).
	BcryptCost int
	// RedisURL, when set, is an external Redis (not started, not stopped).
	RedisURL string
	// RedisDeployment is the Redis the topology starts when RedisURL is
	// empty: RedisSingle (default), RedisCluster or RedisSentinel.
	RedisDeployment string
	// RedisNet, when set, puts a fault-injecting proxy between the
	// gateways and a single Redis (netem.go).
	RedisNet *RedisNet
	// UpstreamNet, when set, puts a fault-injecting proxy before every
	// gateway the lb forwards to (netem.go); independent of RedisNet.
	UpstreamNet *UpstreamNet
	// LBListen is the lb's data address (default a free loopback port).
	LBListen string
	// LBAdminListen is the lb's admin address: /_lb/*, /metrics (default
	// a free loopback port).
	LBAdminListen string
	// GatewayArgs are extra gateway flags (after the lb's --).
	GatewayArgs []string
	// LBArgs are extra lb flags (e.g. --ignore-exits).
	LBArgs []string
	// LogLevel of every child (default warn: per-request logs cost CPU).
	LogLevel string
	// Output receives the children's stdout and stderr (default discarded).
	Output io.Writer
	Logger *slog.Logger

	// reserve returns a loopback address that was free a moment ago
	// (default proc.FreeLoopbackAddr); tests make it lose races.
	reserve func() (string, error)
}

// Validate checks c and fills defaults.
func (c *Config) Validate() error {
	if c.Exe == "" {
		return fmt.Errorf("topology: no authlab executable")
	}
	if !catalog.Known(c.Strategy) {
		return fmt.Errorf("topology: unknown strategy %q (want one of %s)", c.Strategy, strings.Join(catalog.Strategies(), ", "))
	}
	if c.Policy == "" {
		c.Policy = catalog.DefaultPolicy(c.Strategy)
	}
	if !slices.Contains(catalog.Policies(), c.Policy) {
		return fmt.Errorf("topology: unknown policy %q (want one of %s)", c.Policy, strings.Join(catalog.Policies(), ", "))
	}
	if c.Instances < 1 || c.Instances > MaxInstances {
		return fmt.Errorf("topology: instances must be 1..%d, got %d", MaxInstances, c.Instances)
	}
	if c.SeedUsers < 1 {
		return fmt.Errorf("topology: seed users must be ≥ 1, got %d", c.SeedUsers)
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = 4
	}
	if err := c.validRedisDeployment(); err != nil {
		return err
	}
	if err := c.UpstreamNet.validate(); err != nil {
		return err
	}
	return c.validRedisNet()
}

func (c Config) group() GroupConfig {
	return GroupConfig{Exe: c.Exe, LogLevel: c.LogLevel, Output: c.Output, Logger: c.Logger, reserve: c.reserve}
}

// Topology is a running redis + auth + backend + lb (with its gateways).
type Topology struct {
	// LBURL is the lb's data plane, http://127.0.0.1:port.
	LBURL string
	// LBAdminURL is the lb's admin plane (/_lb/*, /metrics).
	LBAdminURL string
	// AdminToken guards the lb's admin API.
	AdminToken string
	// InstanceAdminToken guards the gateways' /_admin/* (on each
	// instance's AdminAddress). It differs from AdminToken.
	InstanceAdminToken string
	// Password of every seeded user; AdminPassword of user AdminUser (the
	// auth service's seeded administrator, roles admin and user).
	Password, AdminPassword string
	AdminUser               string
	// RedisURL is the Redis every gateway uses (through RedisProxy when
	// there is one: the harness itself talks to it directly).
	RedisURL string
	// Redis is the harness's own single Redis, nil when RedisURL is
	// external or the deployment is replicated.
	Redis *redisserver.Server
	// Replicated is the harness's own Redis Cluster or Sentinel group (nil
	// for a single Redis).
	Replicated ReplicatedRedis
	// RedisKind and RedisVersion describe it (for the report).
	RedisKind, RedisVersion string
	// AuthURL and BackendURL of the services.
	AuthURL, BackendURL string
	// RedisProxy stands between the gateways and Redis when
	// Config.RedisNet is set, else nil.
	RedisProxy      *netem.Proxy
	gatewayRedisURL string

	cfg   Config
	procs *Group
	admin *LBAdmin

	seen seenPIDs // every gateway pid the lb reported, for teardown
}

// Start starts everything on loopback and waits until it is ready: Redis
// (cfg.RedisURL, else a redis-server from PATH, else the embedded
// fallback), auth, backend, then the lb, which starts the gateways and
// listens once they are all ready. Secrets reach each process through its
// environment only, and each gets only the ones it needs. A child that
// exits before it is ready (typically: its reserved port was taken before
// it could bind it) is started again on other ports. On error everything
// started is torn down.
func Start(ctx context.Context, cfg Config) (t *Topology, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	procs, err := NewGroup(cfg.group())
	if err != nil {
		return nil, err
	}
	t = &Topology{cfg: cfg, procs: procs}
	t.setSecrets(procs.Secrets())
	defer func() {
		if err != nil {
			t.Close()
			t = nil
		}
	}()
	if err := t.startRedis(ctx); err != nil {
		return t, err
	}
	if err := t.startRedisProxy(ctx); err != nil {
		return t, err
	}
	if t.AuthURL, err = procs.StartAuth(ctx, cfg.SeedUsers, cfg.BcryptCost); err != nil {
		return t, err
	}
	if t.BackendURL, err = procs.StartBackend(ctx); err != nil {
		return t, err
	}
	if err := t.startLB(ctx); err != nil {
		return t, err
	}
	return t, t.checkInstances(ctx)
}

func (t *Topology) setSecrets(s Secrets) {
	t.AdminToken, t.InstanceAdminToken = s.AdminToken, s.InstanceAdminToken
	t.Password, t.AdminPassword, t.AdminUser = s.Password, s.AdminPassword, identity.SeedAdmin
}

// startRedis uses the external Redis when one is given, else starts one.
func (t *Topology) startRedis(ctx context.Context) error {
	if t.cfg.RedisURL != "" {
		t.RedisURL, t.RedisKind = t.cfg.RedisURL, redisserver.KindExternal
		t.RedisVersion = measure.RedisVersion(ctx, t.cfg.RedisURL)
		return nil
	}
	if t.cfg.RedisDeployment != RedisSingle {
		return t.startReplicated(ctx)
	}
	srv, err := redisserver.Start(ctx, t.cfg.Logger)
	if err != nil {
		return fmt.Errorf("start redis: %w", err)
	}
	t.Redis, t.RedisURL, t.RedisKind, t.RedisVersion = srv, srv.URL(), srv.Kind, srv.Version
	return nil
}

// startLB starts the lb with its gateways and waits for its admin plane.
func (t *Topology) startLB(ctx context.Context) error {
	_, data, admin, err := t.procs.StartLB(ctx, LB{
		Listen: t.cfg.LBListen, AdminListen: t.cfg.LBAdminListen, Policy: t.cfg.Policy,
		Instances: t.cfg.Instances, Args: append(slices.Clone(t.cfg.LBArgs), t.cfg.UpstreamNet.lbArgs()...),
		Gateways: Gateways{Strategy: t.cfg.Strategy, AuthURL: t.AuthURL, BackendURL: t.BackendURL,
			RedisURL: t.redisURLForGateways(), Args: t.cfg.GatewayArgs},
	})
	if err != nil {
		return err
	}
	t.LBURL, t.LBAdminURL = "http://"+data, "http://"+admin
	t.admin = NewLBAdmin(t.LBAdminURL, t.AdminToken)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := netutil.WaitHTTP(wctx, t.LBAdminURL+"/healthz"); err != nil {
		return fmt.Errorf("lb admin port: %w", err)
	}
	return nil
}

// checkInstances checks that the lb lists every gateway.
func (t *Topology) checkInstances(ctx context.Context) error {
	insts, err := t.Instances(ctx)
	if err != nil {
		return fmt.Errorf("lb admin API: %w", err)
	}
	if len(insts) != t.cfg.Instances {
		return fmt.Errorf("lb reports %d instances, want %d", len(insts), t.cfg.Instances)
	}
	return nil
}

// Close tears everything down: SIGTERM to each process group, last started
// first (the lb stops its gateways), SIGKILL after 5 s; then any gateway
// the lb reported that is still alive; then Redis. It is safe to call
// twice.
func (t *Topology) Close() error {
	pids := t.pidsForTeardown()
	t.procs.Stop()
	killSurvivors(pids, t.cfg.Logger)
	t.closeRedisProxy()
	if t.Replicated != nil {
		return t.Replicated.Close()
	}
	if t.Redis != nil {
		return t.Redis.Stop()
	}
	return nil
}

// pidsForTeardown returns the gateway pids the lb reported, asking it when
// it never was.
func (t *Topology) pidsForTeardown() []int {
	pids := t.seen.list()
	if len(pids) == 0 && t.admin != nil && t.procs.Len() > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if insts, err := t.admin.Instances(ctx); err == nil {
			pids = measure.PIDs(insts)
		}
	}
	return pids
}

// killSurvivors SIGKILLs every pid still alive a second after its lb
// stopped. (The lb's children die with it through their parent-death
// signal, asynchronously.)
func killSurvivors(pids []int, logger *slog.Logger) {
	deadline := time.Now().Add(time.Second)
	for _, pid := range pids {
		for proc.Alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if proc.Alive(pid) {
			logger.Warn("gateway outlived the lb; killing", "pid", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Instances lists the gateways through the lb admin API.
func (t *Topology) Instances(ctx context.Context) ([]lb.InstanceInfo, error) {
	return t.seen.instances(ctx, t.admin)
}

// seenPIDs remembers every gateway pid an lb reported, so that teardown
// can kill a gateway that outlived its lb.
type seenPIDs struct {
	mu   sync.Mutex
	pids []int
}

// instances lists an lb's gateways through its admin API, noting their
// pids.
func (s *seenPIDs) instances(ctx context.Context, admin *LBAdmin) ([]lb.InstanceInfo, error) {
	insts, err := admin.Instances(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pid := range measure.PIDs(insts) {
		if !slices.Contains(s.pids, pid) {
			s.pids = append(s.pids, pid)
		}
	}
	return insts, nil
}

// list returns the pids seen so far.
func (s *seenPIDs) list() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pids)
}

// Kill SIGKILLs gateway id through the lb admin API.
func (t *Topology) Kill(ctx context.Context, id string) error {
	return t.admin.Kill(ctx, id, lb.ModeSIGKILL)
}

// Revive starts gateway id again through the lb admin API.
func (t *Topology) Revive(ctx context.Context, id string) error {
	if err := t.admin.Revive(ctx, id); err != nil {
		return err
	}
	_, _ = t.Instances(ctx) // remember the new pid for teardown
	return nil
}
