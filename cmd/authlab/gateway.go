package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/authlab/authlab/internal/assertion"
	"github.com/authlab/authlab/internal/httpserver"
	"github.com/authlab/authlab/internal/loginlimit"
	"github.com/authlab/authlab/internal/redismetrics"
	"github.com/authlab/authlab/internal/redisx"
	"github.com/authlab/authlab/internal/secret"
	"github.com/authlab/authlab/services/auth"
	"github.com/authlab/authlab/services/gateway"
	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/registry"
)

type gatewayFlags struct {
	listen, adminListen                  string
	instanceID, strategy                 string
	authURL, backendURL, redisURL        string
	adminToken, assertionKey, fpKey      string
	jwtAlg, jwtSecret, jwtSeed, jwtKID   string
	jwtIssuer, jwtAudience               string
	jwtDenylist, opaquePubSub, secure    bool
	accessTTL, refreshTTL, sessionTTL    time.Duration
	sessionIdleTTL, refreshGrace         time.Duration
	familyLifetime                       time.Duration
	stickyMaxPerUser                     int
	opaqueTTL, opaqueCacheTTL, opaqueNeg time.Duration
	opaqueCacheSize, stickyMaxSessions   int
	logLevel, auditLog                   string
	allowedOrigins, trustedProxies       string
	loginMaxFailures                     int
	loginLockoutBase, loginLockoutMax    time.Duration
	loginWindow                          time.Duration
}

func (f *gatewayFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address of the data plane: /auth/*, /api/*, /healthz, /readyz (loopback by default)")
	fs.StringVar(&f.adminListen, "admin-listen", "127.0.0.1:8081", "address of the admin plane: /_admin/*, /metrics, /healthz, /readyz (keep it on loopback; empty disables it)")
	fs.StringVar(&f.instanceID, "instance-id", "", "instance id sent in X-Authlab-Instance (default gw-<pid>)")
	fs.StringVar(&f.strategy, "strategy", "jwt", "authentication strategy: "+strings.Join(registry.Names(), "|"))
	fs.StringVar(&f.authURL, "auth-url", "http://127.0.0.1:8091", "base URL of the auth service")
	fs.StringVar(&f.backendURL, "backend-url", "http://127.0.0.1:8092", "base URL of the backend service")
	fs.StringVar(&f.redisURL, "redis-url", "", "Redis URL (redis://, redis+cluster://, redis+sentinel://); default $REDIS_URL")
	fs.StringVar(&f.adminToken, "admin-token", "", "secret: bearer token for /_admin/* (random dev value if empty)")
	fs.StringVar(&f.assertionKey, "assertion-key", "", "secret: key signing the internal identity assertion, shared with the backend (random dev value if empty)")
	fs.StringVar(&f.fpKey, "fingerprint-key", "", "secret: HMAC key turning tokens into store keys, shared by all instances (random dev value if empty)")
	fs.StringVar(&f.jwtAlg, "jwt-alg", "HS256", "jwt: signing algorithm, HS256 or EdDSA")
	fs.StringVar(&f.jwtSecret, "jwt-secret", "", "secret: jwt HS256 key, at least 32 bytes (random dev value if empty)")
	fs.StringVar(&f.jwtSeed, "jwt-ed25519-seed", "", "secret: jwt EdDSA private key seed, base64 of 32 bytes (random dev value if empty)")
	fs.StringVar(&f.jwtKID, "jwt-kid", "k1", "jwt: key id put in the kid header")
	fs.StringVar(&f.jwtIssuer, "jwt-issuer", "authlab", "jwt: iss claim issued and required")
	fs.StringVar(&f.jwtAudience, "jwt-audience", "authlab-api", "jwt: aud claim issued and required")
	fs.BoolVar(&f.jwtDenylist, "jwt-denylist", false, "jwt: keep a Redis denylist so logout takes effect at once")
	fs.DurationVar(&f.accessTTL, "access-ttl", 5*time.Minute, "jwt: access token lifetime")
	fs.DurationVar(&f.refreshTTL, "refresh-ttl", 24*time.Hour, "jwt: refresh token lifetime")
	fs.DurationVar(&f.sessionTTL, "session-ttl", time.Hour, "sticky, redis-session: session lifetime")
	fs.DurationVar(&f.sessionIdleTTL, "session-idle-ttl", 30*time.Minute, "sticky, redis-session: a session unused this long expires (sliding; 0 = only --session-ttl)")
	fs.IntVar(&f.stickyMaxSessions, "sticky-max-sessions", 1_000_000, "sticky: most sessions kept in memory (new logins beyond it get 503)")
	fs.IntVar(&f.stickyMaxPerUser, "sticky-max-sessions-per-user", 16, "sticky: most sessions of one account; its oldest is dropped at the next login")
	fs.DurationVar(&f.refreshGrace, "jwt-refresh-grace", 10*time.Second, "jwt: a refresh retried this soon gets the pair already issued instead of tripping reuse detection (negative = off)")
	fs.DurationVar(&f.familyLifetime, "jwt-family-lifetime", 7*24*time.Hour, "jwt: absolute lifetime of a refresh-token family (the login it started from); at least --refresh-ttl")
	fs.DurationVar(&f.opaqueTTL, "opaque-ttl", time.Hour, "opaque: token lifetime")
	fs.DurationVar(&f.opaqueCacheTTL, "opaque-cache-ttl", 30*time.Second, "opaque: per-instance cache entry lifetime (bounds revocation lag without pub/sub)")
	fs.IntVar(&f.opaqueCacheSize, "opaque-cache-size", 100_000, "opaque: per-instance cache entries")
	fs.DurationVar(&f.opaqueNeg, "opaque-negative-ttl", 0, "opaque: cache unknown tokens this long (0 = no negative caching)")
	fs.BoolVar(&f.opaquePubSub, "opaque-pubsub", false, "opaque: invalidate caches over Redis pub/sub at logout")
	fs.BoolVar(&f.secure, "secure-cookies", false, "set the Secure attribute on cookies (when served over TLS)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error (debug adds one line per request)")
	fs.StringVar(&f.auditLog, "audit-log", "-", `where the audit log goes, one JSON line per login, logout, refresh, reuse and revocation: "-" for stderr, or a file path (appended to)`)
	fs.StringVar(&f.allowedOrigins, "allowed-origins", "", "comma-separated origins (scheme://host[:port]) allowed on state-changing requests besides the service's own")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "127.0.0.0/8,::1/128", "comma-separated IPs or CIDRs whose X-Forwarded-For/-Proto/-Host are believed (empty: trust no one)")
	fs.IntVar(&f.loginMaxFailures, "login-max-failures", loginlimit.DefaultMaxFailures, "failed logins per account before it is throttled (0 disables throttling)")
	fs.DurationVar(&f.loginLockoutBase, "login-lockout-base", loginlimit.DefaultBase, "first lockout of a throttled account; doubles with each further failure")
	fs.DurationVar(&f.loginLockoutMax, "login-lockout-max", loginlimit.DefaultMax, "longest lockout")
	fs.DurationVar(&f.loginWindow, "login-failure-window", loginlimit.DefaultWindow, "an account's failures are forgotten this long after its last attempt (at least --login-lockout-max)")
}

func runGateway(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f gatewayFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger, err := httpserver.NewLogger(stderr, f.logLevel)
	if err != nil {
		return err
	}
	if f.instanceID == "" {
		f.instanceID = fmt.Sprintf("gw-%d", os.Getpid())
	}
	logger = logger.With("instance", f.instanceID)
	// go-redis logs every failed dial on its own; the gateway already logs
	// each 503 it answers, so keep go-redis's lines at debug level.
	redis.SetLogger(redisLogger{logger.With("component", "go-redis")})
	if !registry.Known(f.strategy) {
		return fmt.Errorf("--strategy %q: known strategies are %s", f.strategy, strings.Join(registry.Names(), ", "))
	}
	adminToken, _, err := secret.Resolve(logger, "admin-token", f.adminToken, 16)
	if err != nil {
		return err
	}
	assertionKey, _, err := secret.Resolve(logger, "assertion-key", f.assertionKey, 32)
	if err != nil {
		return err
	}
	backend, err := parseServiceURL("backend-url", f.backendURL)
	if err != nil {
		return err
	}
	if _, err := parseServiceURL("auth-url", f.authURL); err != nil {
		return err
	}

	fpKey, _, err := secret.Resolve(logger, "fingerprint-key", f.fpKey, 32)
	if err != nil {
		return err
	}
	trusted, err := parsePrefixes(f.trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	auditW, closeAudit, err := openAuditLog(f.auditLog, stderr)
	if err != nil {
		return err
	}
	defer closeAudit()

	reg := prometheus.NewRegistry()
	opts, cleanup, err := f.strategyOptions(logger, []byte(fpKey), reg)
	if err != nil {
		return err
	}
	defer cleanup()
	limiter, err := f.loginLimiter(opts, []byte(fpKey))
	if err != nil {
		return err
	}
	strat, err := registry.New(ctx, f.strategy, opts)
	if err != nil {
		return fmt.Errorf("strategy %s: %w", f.strategy, err)
	}
	if c, ok := strat.(strategies.Closer); ok {
		defer c.Close()
	}
	issuer, err := assertion.NewIssuer([]byte(assertionKey), 0, nil)
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	gw, err := gateway.New(gateway.Config{
		InstanceID:     f.instanceID,
		Strategy:       strat,
		Passwords:      auth.NewClient(f.authURL, nil),
		Backend:        backend,
		Assertions:     issuer,
		AdminToken:     adminToken,
		FingerprintKey: []byte(fpKey),
		SecureCookies:  f.secure,
		Exit:           os.Exit,
		Logger:         logger,
		Audit:          auditW,
		LoginLimiter:   limiter,
		TrustedProxies: trusted,
		AllowedOrigins: splitList(f.allowedOrigins),
		Registry:       reg,
	})
	if err != nil {
		return err
	}
	return serveBoth(ctx, logger, f.listen, gw.Handler(), f.adminListen, gw.AdminHandler())
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

// loginLimiter builds the login throttle: shared through Redis when the
// strategy has a Redis client, in memory (per instance) otherwise, so
// sticky and none never depend on Redis.
func (f *gatewayFlags) loginLimiter(opts registry.Options, fpKey []byte) (gateway.LoginLimiter, error) {
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
	if opts.Redis != nil {
		return loginlimit.NewRedis(opts.Redis, fpKey, cfg)
	}
	return loginlimit.NewMemory(cfg)
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

// strategyOptions turns flags into registry options, connecting to Redis
// when the strategy needs it (with a hook counting its calls in reg).
func (f *gatewayFlags) strategyOptions(logger *slog.Logger, fpKey []byte, reg prometheus.Registerer) (registry.Options, func(), error) {
	noop := func() {}
	o := registry.Options{FingerprintKey: fpKey, SessionTTL: f.sessionTTL, SessionIdleTTL: f.sessionIdleTTL, SecureCookies: f.secure}
	o.Sticky.MaxSessions = f.stickyMaxSessions
	o.Sticky.MaxSessionsPerUser = f.stickyMaxPerUser
	o.JWT.RefreshGrace = f.refreshGrace
	o.JWT.FamilyLifetime = f.familyLifetime
	o.JWT.Alg = f.jwtAlg
	o.JWT.KeyID = f.jwtKID
	o.JWT.Issuer = f.jwtIssuer
	o.JWT.Audience = f.jwtAudience
	o.JWT.AccessTTL = f.accessTTL
	o.JWT.RefreshTTL = f.refreshTTL
	o.JWT.Denylist = f.jwtDenylist
	o.Opaque.TokenTTL = f.opaqueTTL
	o.Opaque.CacheTTL = f.opaqueCacheTTL
	o.Opaque.CacheSize = f.opaqueCacheSize
	o.Opaque.NegativeCacheTTL = f.opaqueNeg
	o.Opaque.PubSub = f.opaquePubSub
	if f.strategy == registry.JWT {
		switch strings.ToUpper(f.jwtAlg) {
		case "HS256":
			s, _, err := secret.Resolve(logger, "jwt-secret", f.jwtSecret, 32)
			if err != nil {
				return o, noop, err
			}
			o.JWT.Secret = []byte(s)
		case "EDDSA":
			o.JWT.Alg = "EdDSA"
			seed := f.jwtSeed
			if seed == "" {
				seed, _, _ = secret.Resolve(logger, "jwt-ed25519-seed", "", 0)
			}
			b, err := decodeSeed(seed)
			if err != nil {
				return o, noop, fmt.Errorf("--jwt-ed25519-seed: %w", err)
			}
			o.JWT.Ed25519Seed = b
		default:
			return o, noop, fmt.Errorf("--jwt-alg %q: want HS256 or EdDSA", f.jwtAlg)
		}
	}
	if !registry.NeedsRedis(f.strategy) {
		return o, noop, nil
	}
	rurl := redisURLOrEnv(f.redisURL)
	if rurl == "" {
		return o, noop, fmt.Errorf("strategy %s needs Redis: set --redis-url or REDIS_URL", f.strategy)
	}
	client, err := redisx.NewClient(rurl)
	if err != nil {
		return o, noop, err
	}
	hook, err := redismetrics.New(reg)
	if err != nil {
		_ = client.Close()
		return o, noop, err
	}
	client.AddHook(hook)
	o.Redis = client
	return o, func() { _ = client.Close() }, nil
}

func decodeSeed(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, fmt.Errorf("decoded to %d bytes, want 32", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

func parseServiceURL(name, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--%s %q: want an http(s) URL with a host", name, raw)
	}
	return u, nil
}
