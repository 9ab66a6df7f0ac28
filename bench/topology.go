package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/authlab/authlab/internal/netutil"
	"github.com/authlab/authlab/internal/redisx/redisserver"
	"github.com/authlab/authlab/internal/secret"
)

// Strategies the gateway knows, in report order.
var Strategies = []string{"none", "sticky", "redis-session", "jwt", "opaque"}

// Policies the lb knows.
var Policies = []string{"round-robin", "least-conn", "sticky"}

// DefaultPolicy is the lb policy a strategy needs: sticky sessions live in
// one instance's memory, so they need the sticky policy.
func DefaultPolicy(strategy string) string {
	if strategy == "sticky" {
		return "sticky"
	}
	return "round-robin"
}

// TopologyConfig describes the processes to start.
type TopologyConfig struct {
	// Exe is the authlab binary the processes are started from.
	Exe       string
	Strategy  string
	Instances int
	Policy    string
	// SeedUsers is the number of users the auth service seeds.
	SeedUsers  int
	BcryptCost int
	// RedisURL, when set, is an external Redis (not started, not stopped).
	RedisURL string
	// LBListen is the lb's data address (default a free loopback port).
	LBListen string
	// LBAdminListen is the lb's admin address: /_lb/*, /metrics (default
	// a free loopback port).
	LBAdminListen string
	// GatewayArgs are extra gateway flags (after the lb's --).
	GatewayArgs []string
	// LogLevel of every child (default warn: per-request logs cost CPU).
	LogLevel string
	// Output receives the children's stdout and stderr (default discarded).
	Output io.Writer
	Logger *slog.Logger

	// reserve returns a loopback address that was free a moment ago
	// (default netutil.FreeLoopbackAddr); tests make it lose races.
	reserve func() (string, error)
}

// Validate checks c and fills defaults.
func (c *TopologyConfig) Validate() error {
	if c.Exe == "" {
		return errors.New("topology: no authlab executable")
	}
	if !slices.Contains(Strategies, c.Strategy) {
		return fmt.Errorf("topology: unknown strategy %q (want one of %s)", c.Strategy, strings.Join(Strategies, ", "))
	}
	if c.Policy == "" {
		c.Policy = DefaultPolicy(c.Strategy)
	}
	if !slices.Contains(Policies, c.Policy) {
		return fmt.Errorf("topology: unknown policy %q (want one of %s)", c.Policy, strings.Join(Policies, ", "))
	}
	if c.Instances < 1 || c.Instances > 64 {
		return fmt.Errorf("topology: instances must be 1..64, got %d", c.Instances)
	}
	if c.SeedUsers < 1 {
		return fmt.Errorf("topology: seed users must be ≥ 1, got %d", c.SeedUsers)
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = 4
	}
	if c.LogLevel == "" {
		c.LogLevel = "warn"
	}
	if c.Output == nil {
		c.Output = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.reserve == nil {
		c.reserve = netutil.FreeLoopbackAddr
	}
	return nil
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
	// Password of every seeded user; AdminPassword of user admin.
	Password, AdminPassword string
	// RedisURL is the Redis every gateway uses.
	RedisURL string
	// Redis is the harness's own Redis, nil when RedisURL is external.
	Redis *redisserver.Server
	// RedisKind and RedisVersion describe it (for the report).
	RedisKind, RedisVersion string
	// AuthURL and BackendURL of the services.
	AuthURL, BackendURL string

	cfg    TopologyConfig
	client *http.Client

	mu       sync.Mutex
	children []*child
	lastPIDs []int
}

// child is one process started by the topology, in its own process group,
// killed if the harness dies (Pdeathsig).
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// startAttempts bounds how often the topology starts a child on fresh
// ports.
const startAttempts = 3

// StartTopology starts everything on loopback and waits until it is ready:
// Redis (cfg.RedisURL, else a redis-server from PATH, else the embedded
// fallback), auth, backend, then the lb, which starts the gateways and
// listens once they are all ready. Secrets reach each process through its
// environment only, and each gets only the ones it needs. A child that
// exits before it is ready (typically: its reserved port was taken before
// it could bind it) is started again on other ports. On error everything
// started is torn down.
func StartTopology(ctx context.Context, cfg TopologyConfig) (t *Topology, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t = &Topology{
		cfg:                cfg,
		client:             &http.Client{Timeout: 5 * time.Second},
		AdminToken:         secret.Random(),
		InstanceAdminToken: secret.Random(),
		Password:           secret.Random()[:16],
		AdminPassword:      secret.Random()[:16],
	}
	defer func() {
		if err != nil {
			t.Close()
			t = nil
		}
	}()
	if cfg.RedisURL != "" {
		t.RedisURL, t.RedisKind = cfg.RedisURL, redisserver.KindExternal
		t.RedisVersion = redisVersion(ctx, cfg.RedisURL)
	} else {
		srv, err := redisserver.Start(ctx, cfg.Logger)
		if err != nil {
			return t, fmt.Errorf("start redis: %w", err)
		}
		t.Redis, t.RedisURL, t.RedisKind, t.RedisVersion = srv, srv.URL(), srv.Kind, srv.Version
	}
	base := append(os.Environ(), "AUTHLAB_LOG_LEVEL="+cfg.LogLevel)
	with := func(vars ...string) []string { return append(slices.Clip(base), vars...) }
	assertionKey := secret.Random()
	authEnv := with("AUTHLAB_SEED_PASSWORD="+t.Password, "AUTHLAB_ADMIN_PASSWORD="+t.AdminPassword)
	backendEnv := with("AUTHLAB_ASSERTION_KEY=" + assertionKey)
	// The lb keeps its own token and cookie key, and hands the gateways the
	// instance token (as their AUTHLAB_ADMIN_TOKEN) and the rest.
	lbEnv := with(
		"AUTHLAB_ADMIN_TOKEN="+t.AdminToken,
		"AUTHLAB_INSTANCE_ADMIN_TOKEN="+t.InstanceAdminToken,
		"AUTHLAB_COOKIE_KEY="+secret.Random(),
		"AUTHLAB_ASSERTION_KEY="+assertionKey,
		"AUTHLAB_FINGERPRINT_KEY="+secret.Random(),
		"AUTHLAB_JWT_SECRET="+secret.Random(),
		"AUTHLAB_JWT_ED25519_SEED="+secret.Random(),
		"AUTHLAB_REDIS_URL="+t.RedisURL, // may hold a password
	)
	addrs, err := t.startService(ctx, "auth", authEnv, []string{""}, func(a []string) []string {
		return []string{"auth", "--listen", a[0], "--seed-users", strconv.Itoa(cfg.SeedUsers),
			"--bcrypt-cost", strconv.Itoa(cfg.BcryptCost)}
	}, 30*time.Second)
	if err != nil {
		return t, err
	}
	t.AuthURL = "http://" + addrs[0]
	addrs, err = t.startService(ctx, "backend", backendEnv, []string{""}, func(a []string) []string {
		return []string{"backend", "--listen", a[0]}
	}, 30*time.Second)
	if err != nil {
		return t, err
	}
	t.BackendURL = "http://" + addrs[0]
	// The lb answers /healthz on its data port (through a gateway) once
	// every gateway is ready.
	addrs, err = t.startService(ctx, "lb", lbEnv, []string{cfg.LBListen, cfg.LBAdminListen}, func(a []string) []string {
		args := []string{"lb", "--listen", a[0], "--admin-listen", a[1], "--instances", strconv.Itoa(cfg.Instances),
			"--policy", cfg.Policy, "--",
			"--strategy", cfg.Strategy, "--auth-url", t.AuthURL, "--backend-url", t.BackendURL}
		return append(args, cfg.GatewayArgs...)
	}, 60*time.Second)
	if err != nil {
		return t, err
	}
	t.LBURL, t.LBAdminURL = "http://"+addrs[0], "http://"+addrs[1]
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := netutil.WaitHTTP(wctx, t.LBAdminURL+"/healthz"); err != nil {
		return t, fmt.Errorf("lb admin port: %w", err)
	}
	insts, err := t.Instances(ctx)
	if err != nil {
		return t, fmt.Errorf("lb admin API: %w", err)
	}
	if len(insts) != cfg.Instances {
		return t, fmt.Errorf("lb reports %d instances, want %d", len(insts), cfg.Instances)
	}
	return t, nil
}

// errExited: the child being waited for exited before it was ready.
var errExited = errors.New("exited during start-up")

// startService starts child name with args(addrs), where addrs[i] is
// fixed[i] when set, else a freshly reserved loopback address, and waits
// (at most limit) until http://addrs[0]/healthz answers 200. When the child
// exits first — typically because one of its reserved ports was taken
// before it could bind it — it is started again on fresh ports (fixed ones
// stay: the user chose them).
func (t *Topology) startService(ctx context.Context, name string, env, fixed []string, args func(addrs []string) []string, limit time.Duration) ([]string, error) {
	canMove := slices.Contains(fixed, "")
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		addrs := slices.Clone(fixed)
		for i := range addrs {
			if addrs[i] != "" {
				continue
			}
			a, err := t.cfg.reserve()
			if err != nil {
				return nil, err
			}
			addrs[i] = a
		}
		c, err := t.start(name, env, args(addrs)...)
		if err != nil {
			return nil, err
		}
		lastErr = t.waitReady(ctx, "http://"+addrs[0]+"/healthz", limit, c)
		if lastErr == nil {
			return addrs, nil
		}
		if !errors.Is(lastErr, errExited) || !canMove {
			return nil, lastErr
		}
		t.forget(c)
		if attempt < startAttempts {
			t.cfg.Logger.Warn("child exited before it was ready; starting it on other ports", "child", name, "attempt", attempt)
		}
	}
	return nil, fmt.Errorf("%w (%d attempts on fresh ports)", lastErr, startAttempts)
}

func (t *Topology) start(name string, env []string, args ...string) (*child, error) {
	cmd := exec.Command(t.cfg.Exe, args...)
	cmd.Env = env
	cmd.Stdout = prefixWriter(t.cfg.Output, name)
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	t.mu.Lock()
	t.children = append(t.children, c)
	t.mu.Unlock()
	return c, nil
}

// forget drops an exited child from the ones Close stops.
func (t *Topology) forget(c *child) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.children = slices.DeleteFunc(t.children, func(x *child) bool { return x == c })
}

// waitReady polls url until 200. It fails early with errExited when c
// exits, and with another error when any other child has.
func (t *Topology) waitReady(ctx context.Context, url string, limit time.Duration, c *child) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- netutil.WaitHTTP(ctx, url) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("%s not ready: %w", c.name, err)
			}
			return nil
		case <-c.done:
			cancel()
			<-errc
			return fmt.Errorf("%s %w (see its output)", c.name, errExited)
		case <-tick.C:
			if name := t.exited(c); name != "" {
				cancel()
				<-errc
				return fmt.Errorf("%s exited during start-up (see its output)", name)
			}
		}
	}
}

// exited names a child other than except that has exited, or returns "".
func (t *Topology) exited(except *child) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.children {
		if c == except {
			continue
		}
		select {
		case <-c.done:
			return c.name
		default:
		}
	}
	return ""
}

// Close tears everything down: SIGTERM to each process group (the lb stops
// its gateways), SIGKILL after 5 s, then any gateway pid the lb reported
// that is still alive, then Redis. It is safe to call twice.
func (t *Topology) Close() error {
	t.mu.Lock()
	children := t.children
	t.children = nil
	pids := t.lastPIDs
	t.mu.Unlock()
	if len(pids) == 0 && t.LBAdminURL != "" && len(children) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if insts, err := t.Instances(ctx); err == nil {
			pids = pidsOf(insts)
		}
		cancel()
	}
	// Reverse order: lb (and its gateways) first, Redis last.
	for i := len(children) - 1; i >= 0; i-- {
		c := children[i]
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			t.cfg.Logger.Warn("child did not stop on SIGTERM; killing", "child", c.name)
		}
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
	// The lb's children die with it (Pdeathsig), asynchronously: give them
	// a moment, then kill any that is still running.
	deadline := time.Now().Add(time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			t.cfg.Logger.Warn("gateway outlived the lb; killing", "pid", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if t.Redis != nil {
		return t.Redis.Stop()
	}
	return nil
}

// Instance is one gateway as the lb reports it.
type Instance struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	// AdminAddress serves the gateway's /_admin/* (InstanceAdminToken),
	// /metrics and /healthz.
	AdminAddress string `json:"admin_address"`
	PID          int    `json:"pid"`
	State        string `json:"state"`
	InFlight     int64  `json:"in_flight"`
	Served       int64  `json:"served"`
}

func pidsOf(insts []Instance) []int {
	var out []int
	for _, in := range insts {
		if in.PID > 0 {
			out = append(out, in.PID)
		}
	}
	return out
}

// Instances lists the gateways through the lb admin API.
func (t *Topology) Instances(ctx context.Context) ([]Instance, error) {
	var out []Instance
	if err := t.admin(ctx, http.MethodGet, "/_lb/instances", &out); err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.lastPIDs = mergePIDs(t.lastPIDs, pidsOf(out))
	t.mu.Unlock()
	return out, nil
}

func mergePIDs(a, b []int) []int {
	for _, p := range b {
		if !slices.Contains(a, p) {
			a = append(a, p)
		}
	}
	return a
}

// Kill SIGKILLs gateway id through the lb admin API.
func (t *Topology) Kill(ctx context.Context, id string) error {
	return t.admin(ctx, http.MethodPost, "/_lb/instances/"+id+"/kill?mode=sigkill", nil)
}

// Revive starts gateway id again through the lb admin API.
func (t *Topology) Revive(ctx context.Context, id string) error {
	if err := t.admin(ctx, http.MethodPost, "/_lb/instances/"+id+"/revive", nil); err != nil {
		return err
	}
	_, _ = t.Instances(ctx) // remember the new pid for teardown
	return nil
}

func (t *Topology) admin(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, t.LBAdminURL+path, nil)
	if err != nil {
		return fmt.Errorf("lb admin %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+t.AdminToken)
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("lb admin %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("lb admin %s %s: status %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("lb admin %s: decode: %w", path, err)
		}
	}
	return nil
}

// prefixWriter writes each line of a child's output to w prefixed with its
// name.
func prefixWriter(w io.Writer, name string) io.Writer {
	if w == io.Discard {
		return io.Discard
	}
	return &linePrefixer{w: w, prefix: "[" + name + "] "}
}

type linePrefixer struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (l *linePrefixer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := slices.Index(l.buf, '\n')
		if i < 0 {
			break
		}
		if _, err := fmt.Fprintf(l.w, "%s%s\n", l.prefix, l.buf[:i]); err != nil {
			return len(p), err
		}
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

// alive reports whether pid is a running process (not gone, not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	st := string(b)
	i := strings.LastIndexByte(st, ')')
	return i >= 0 && i+2 < len(st) && st[i+2] != 'Z'
}
