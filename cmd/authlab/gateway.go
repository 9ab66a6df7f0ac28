package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/authlab/authlab/internal/apierr"
	"github.com/authlab/authlab/internal/assertion"
	"github.com/authlab/authlab/internal/httpserver"
	"github.com/authlab/authlab/internal/loginlimit"
	"github.com/authlab/authlab/internal/redismetrics"
	"github.com/authlab/authlab/internal/redisx"
	"github.com/authlab/authlab/internal/secret"
	"github.com/authlab/authlab/services/auth"
	"github.com/authlab/authlab/services/gateway"
	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/catalog"
)

// gatewayFlags are the gateway's own flags; every strategy's flags are
// registered by the catalogue, which builds the one --strategy names.
type gatewayFlags struct {
	listen, adminListen             string
	instanceID, strategy            string
	authURL, backendURL, redisURL   string
	adminToken, assertionKey, fpKey string
	secure, allowPreload            bool
	logLevel, auditLog              string
	allowedOrigins, trustedProxies  string
	loginMaxFailures                int
	loginLockoutBase                time.Duration
	loginLockoutMax, loginWindow    time.Duration
	strategies                      *catalog.Builders
}

func (f *gatewayFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address of the data plane: /auth/*, /api/*, /healthz, /readyz (loopback by default)")
	fs.StringVar(&f.adminListen, "admin-listen", "127.0.0.1:8081", "address of the admin plane: /_admin/*, /metrics, /healthz, /readyz (keep it on loopback; empty disables it)")
	fs.StringVar(&f.instanceID, "instance-id", "", "instance id sent in X-Authlab-Instance (default gw-<pid>)")
	fs.StringVar(&f.strategy, "strategy", catalog.Default, "authentication strategy: "+strings.Join(catalog.Names(), "|"))
	fs.StringVar(&f.authURL, "auth-url", "http://127.0.0.1:8091", "base URL of the auth service")
	fs.StringVar(&f.backendURL, "backend-url", "http://127.0.0.1:8092", "base URL of the backend service")
	fs.StringVar(&f.redisURL, "redis-url", "", "Redis URL (redis://, redis+cluster://, redis+sentinel://); default $REDIS_URL")
	fs.StringVar(&f.adminToken, "admin-token", "", "secret: bearer token for /_admin/* (random dev value if empty)")
	fs.StringVar(&f.assertionKey, "assertion-key", "", "secret: key signing the internal identity assertion, shared with the backend (random dev value if empty)")
	fs.StringVar(&f.fpKey, "fingerprint-key", "", "secret: HMAC key turning tokens into store keys, shared by all instances (random dev value if empty)")
	fs.BoolVar(&f.allowPreload, "allow-preload", false, "serve POST /_admin/preload on the admin plane: sessions minted for seeded users without their passwords (scale benchmarks only; never in a real deployment)")
	fs.BoolVar(&f.secure, "secure-cookies", false, "set the Secure attribute on cookies, and name session cookies __Host- (when served over TLS)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error (debug adds one line per request)")
	fs.StringVar(&f.auditLog, "audit-log", "-", `where the audit log goes, one JSON line per login, logout, refresh, reuse and revocation: "-" for stderr, or a file path (appended to)`)
	fs.StringVar(&f.allowedOrigins, "allowed-origins", "", "comma-separated origins (scheme://host[:port]) allowed on state-changing requests besides the service's own")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "127.0.0.0/8,::1/128", "comma-separated IPs or CIDRs whose X-Forwarded-For/-Proto/-Host are believed (empty: trust no one)")
	fs.IntVar(&f.loginMaxFailures, "login-max-failures", loginlimit.DefaultMaxFailures, "failed logins per account before it is throttled (0 disables throttling)")
	fs.DurationVar(&f.loginLockoutBase, "login-lockout-base", loginlimit.DefaultBase, "first lockout of a throttled account; doubles with each further failure")
	fs.DurationVar(&f.loginLockoutMax, "login-lockout-max", loginlimit.DefaultMax, "longest lockout")
	fs.DurationVar(&f.loginWindow, "login-failure-window", loginlimit.DefaultWindow, "an account's failures are forgotten this long after its last attempt (at least --login-lockout-max)")
	f.strategies = catalog.Register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: authlab gateway [flags]\n\nThe gateway's own flags, then each strategy's (only those of --strategy are read):\n\n")
		catalog.PrintDefaults(fs.Output(), fs)
	}
}

func runGateway(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f gatewayFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger, err := f.logger(stderr)
	if err != nil {
		return err
	}
	cfg, cleanup, err := f.config(ctx, logger, stderr)
	defer cleanup()
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	gw, err := gateway.New(cfg)
	if err != nil {
		return err
	}
	return serveBoth(ctx, logger, f.listen, gw.Handler(), f.adminListen, withHeapEndpoint(gw.AdminHandler(), cfg.AdminToken))
}

// heapPath is the admin plane's GET endpoint that forces a garbage
// collection and answers the live heap: the harness reads it from every
// gateway before and after logging its users in, to measure the memory a
// session held in process costs.
const heapPath = "/_admin/heap"

// withHeapEndpoint serves GET heapPath (guarded by the admin token, like
// the rest of /_admin/*) in front of admin.
func withHeapEndpoint(admin http.Handler, token string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+heapPath, heapHandler(token))
	mux.Handle("/", admin)
	return mux
}

// heapHandler runs runtime.GC (twice) and answers {"heap_alloc_bytes",
// "heap_objects"}: what is still reachable, garbage excluded.
func heapHandler(token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			apierr.Write(w, http.StatusUnauthorized, apierr.CodeUnauthorized, "admin token missing or wrong")
			return
		}
		// Twice: the first GC moves sync.Pool contents to their victim
		// caches, the second frees them; what remains is reachable.
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]uint64{"heap_alloc_bytes": ms.HeapAlloc, "heap_objects": ms.HeapObjects})
	})
}

// logger is the gateway's logger, tagged with its instance id (gw-<pid>
// unless given); go-redis's own lines go to it at debug level.
func (f *gatewayFlags) logger(stderr io.Writer) (*slog.Logger, error) {
	logger, err := httpserver.NewLogger(stderr, f.logLevel)
	if err != nil {
		return nil, err
	}
	if f.instanceID == "" {
		f.instanceID = fmt.Sprintf("gw-%d", os.Getpid())
	}
	logger = logger.With("instance", f.instanceID)
	// go-redis logs every failed dial on its own; the gateway already logs
	// each 503 it answers, so keep go-redis's lines at debug level.
	redis.SetLogger(redisLogger{logger.With("component", "go-redis")})
	return logger, nil
}

// config turns the flags into the gateway's Config, one named step at a
// time: the strategy's flags checked, secrets, addresses, the audit log,
// Redis when the strategy needs it, the strategy built by the catalogue,
// the login limiter and the assertion issuer. cleanup releases what was
// opened, last first; call it even after an error.
func (f *gatewayFlags) config(ctx context.Context, logger *slog.Logger, stderr io.Writer) (cfg gateway.Config, cleanup func(), err error) {
	var undo []func()
	cleanup = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	if _, err := catalog.Lookup(f.strategy); err != nil {
		return cfg, cleanup, fmt.Errorf("--strategy %q: known strategies are %s", f.strategy, strings.Join(catalog.Names(), ", "))
	}
	if err := f.strategies.Check(f.strategy); err != nil {
		return cfg, cleanup, err
	}
	sec, err := f.secrets(logger)
	if err != nil {
		return cfg, cleanup, err
	}
	cfg.AdminToken, cfg.FingerprintKey = sec.adminToken, []byte(sec.fingerprintKey)
	cfg.AllowPreload = f.allowPreload
	if f.allowPreload {
		logger.Warn("--allow-preload: POST /_admin/preload mints sessions for seeded users without their passwords; for scale benchmarks only")
	}
	if err := f.addresses(&cfg); err != nil {
		return cfg, cleanup, err
	}
	audit, closeAudit, err := openAuditLog(f.auditLog, stderr)
	if err != nil {
		return cfg, cleanup, err
	}
	undo = append(undo, closeAudit)
	cfg.Registry = prometheus.NewRegistry()
	strat, rdb, release, err := f.buildStrategy(ctx, logger, cfg.Registry, cfg.FingerprintKey)
	if err != nil {
		return cfg, cleanup, err
	}
	undo = append(undo, release)
	limiter, err := f.loginLimiter(rdb, cfg.FingerprintKey)
	if err != nil {
		return cfg, cleanup, err
	}
	issuer, err := assertion.NewIssuer([]byte(sec.assertionKey), 0, nil)
	if err != nil {
		return cfg, cleanup, err
	}
	cfg.InstanceID, cfg.Strategy, cfg.Assertions = f.instanceID, strat, issuer
	cfg.Passwords, cfg.LoginLimiter = auth.NewClient(f.authURL, nil), limiter
	cfg.Audit, cfg.Logger, cfg.SecureCookies, cfg.Exit = audit, logger, f.secure, os.Exit
	return cfg, cleanup, nil
}

// gatewaySecrets are the gateway's own secrets, from their flags or
// generated (with internal/secret's loud warning) when empty.
type gatewaySecrets struct {
	adminToken, assertionKey, fingerprintKey string
}

func (f *gatewayFlags) secrets(logger *slog.Logger) (gatewaySecrets, error) {
	var s gatewaySecrets
	var err error
	if s.adminToken, _, err = secret.Resolve(logger, "admin-token", f.adminToken, 16); err != nil {
		return s, err
	}
	if s.assertionKey, _, err = secret.Resolve(logger, "assertion-key", f.assertionKey, 32); err != nil {
		return s, err
	}
	if s.fingerprintKey, _, err = secret.Resolve(logger, "fingerprint-key", f.fpKey, 32); err != nil {
		return s, err
	}
	return s, nil
}

// addresses fills cfg's service URLs, trusted proxies and allowed origins.
func (f *gatewayFlags) addresses(cfg *gateway.Config) error {
	backend, err := parseServiceURL("backend-url", f.backendURL)
	if err != nil {
		return err
	}
	if _, err := parseServiceURL("auth-url", f.authURL); err != nil {
		return err
	}
	trusted, err := parsePrefixes(f.trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	cfg.Backend, cfg.TrustedProxies, cfg.AllowedOrigins = backend, trusted, splitList(f.allowedOrigins)
	return nil
}

// buildStrategy connects to Redis when the strategy needs it and builds
// the strategy through the catalogue. release closes both, strategy first.
func (f *gatewayFlags) buildStrategy(ctx context.Context, logger *slog.Logger, reg prometheus.Registerer, fpKey []byte) (strat strategies.Strategy, rdb redis.UniversalClient, release func(), err error) {
	if rdb, err = f.redis(reg); err != nil {
		return nil, nil, nil, err
	}
	release = func() {
		if rdb != nil {
			_ = rdb.Close()
		}
	}
	deps := strategies.Deps{Redis: rdb, FingerprintKey: fpKey, SecureCookies: f.secure, Logger: logger}
	if strat, err = f.strategies.Build(ctx, f.strategy, deps); err != nil {
		release()
		return nil, nil, nil, err
	}
	if c, ok := strat.(strategies.Closer); ok {
		closeRedis := release
		release = func() { _ = c.Close(); closeRedis() }
	}
	return strat, rdb, release, nil
}

// redis connects to Redis when the strategy needs it (nil otherwise), with
// a hook counting its calls in reg.
func (f *gatewayFlags) redis(reg prometheus.Registerer) (redis.UniversalClient, error) {
	if !catalog.NeedsRedis(f.strategy) {
		return nil, nil
	}
	rurl := redisURLOrEnv(f.redisURL)
	if rurl == "" {
		return nil, fmt.Errorf("strategy %s needs Redis: set --redis-url or REDIS_URL", f.strategy)
	}
	client, err := redisx.NewClient(rurl)
	if err != nil {
		return nil, err
	}
	hook, err := redismetrics.New(reg)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	client.AddHook(hook)
	return client, nil
}

// loginLimiter builds the login throttle: shared through Redis when the
// strategy has a Redis client, in memory (per instance) otherwise, so
// strategies without Redis never depend on it.
func (f *gatewayFlags) loginLimiter(rdb redis.UniversalClient, fpKey []byte) (gateway.LoginLimiter, error) {
	if f.loginMaxFailures == 0 {
		return loginlimit.Disabled{}, nil
	}
	if f.loginMaxFailures < 0 {
		return nil, fmt.Errorf("--login-max-failures %d: want 0 (off) or more", f.loginMaxFailures)
	}
	cfg := loginlimit.Config{MaxFailures: f.loginMaxFailures, Base: f.loginLockoutBase, Max: f.loginLockoutMax, Window: f.loginWindow}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("--login-*: %w", err)
	}
	if rdb != nil {
		return loginlimit.NewRedis(rdb, fpKey, cfg)
	}
	return loginlimit.NewMemory(cfg)
}

// serveBoth runs the data plane and, unless adminAddr is empty, the admin
// plane until ctx ends or either fails; then both stop.
func serveBoth(ctx context.Context, logger *slog.Logger, dataAddr string, data http.Handler, adminAddr string, admin http.Handler) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpserver.Run(gctx, logger.With("plane", "data"), dataAddr, data) })
	if adminAddr != "" {
		g.Go(func() error {
			if err := httpserver.Run(gctx, logger.With("plane", "admin"), adminAddr, admin); err != nil {
				return fmt.Errorf("admin plane (--admin-listen): %w", err)
			}
			return nil
		})
	} else {
		logger.Warn("admin plane disabled (--admin-listen is empty): no /metrics, no /_admin/*")
	}
	return g.Wait()
}

// openAuditLog returns the audit log's writer: stderr for "-" (or ""), else
// the file at path, created 0600 and appended to.
func openAuditLog(path string, stderr io.Writer) (io.Writer, func(), error) {
	if path == "" || path == "-" {
		return stderr, func() {}, nil
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("--audit-log: %w", err)
	}
	return fh, func() { _ = fh.Close() }, nil
}

// parsePrefixes parses a comma-separated list of IPs and CIDRs.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range splitList(list) {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func parseServiceURL(name, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--%s %q: want an http(s) URL with a host", name, raw)
	}
	return u, nil
}
