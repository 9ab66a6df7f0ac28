// Package gateway is authlab's API gateway: gin in front of the auth and
// backend services, with one interchangeable authentication strategy.
//
// The gateway authenticates at the edge, strips every identity header a
// client may have sent, and forwards the request to the backend with a
// signed internal identity assertion. It never authorizes roles itself: the
// backend does.
//
// Two handlers: Handler is the data plane (/auth/*, /api/*, /healthz,
// /readyz); AdminHandler is the admin plane (/_admin/*, /metrics, /healthz,
// /readyz), meant for a separate, loopback-only listener. The data plane
// answers 404 for the admin paths.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authlab/authlab/internal/apierr"
	"github.com/authlab/authlab/internal/assertion"
	"github.com/authlab/authlab/internal/audit"
	"github.com/authlab/authlab/internal/bufpool"
	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/internal/loginlimit"
	"github.com/authlab/authlab/internal/reqlog"
	"github.com/authlab/authlab/internal/requestid"
	"github.com/authlab/authlab/strategies"
)

// InstanceHeader names the instance that served a response.
const InstanceHeader = "X-Authlab-Instance"

// maxBodyBytes bounds JSON request bodies of the /auth endpoints.
const maxBodyBytes = 8 << 10

// MinFingerprintKeyLen is the shortest Config.FingerprintKey accepted.
const MinFingerprintKeyLen = 32

// PasswordVerifier checks a username and password (the auth service's
// client, auth.Client, implements it). It returns an error wrapping
// auth.ErrInvalidLogin for a wrong user or password (the gateway answers
// 401) and any other error when it cannot answer (503).
type PasswordVerifier interface {
	Verify(ctx context.Context, username, password string) (identity.Principal, error)
}

// LoginLimiter throttles password guessing per account (internal/loginlimit
// implements it). Attempt is called before the password is checked: it
// returns 0 to let the attempt proceed (counting it), or how long the
// account stays locked. Reset is called after a correct password. An error
// means the limiter could not answer; the gateway then lets the login
// proceed (fail open) and logs a warning.
type LoginLimiter interface {
	Attempt(ctx context.Context, user string) (retryAfter time.Duration, err error)
	Reset(ctx context.Context, user string) error
}

// Config configures a Gateway.
type Config struct {
	// InstanceID is sent in X-Authlab-Instance on every response.
	InstanceID string
	// Strategy authenticates requests.
	Strategy strategies.Strategy
	// Passwords checks login passwords.
	Passwords PasswordVerifier
	// Backend is the base URL of the backend service.
	Backend *url.URL
	// Assertions signs the internal identity assertion.
	Assertions *assertion.Issuer
	// AdminToken guards /_admin/*.
	AdminToken string
	// FingerprintKey keys the short HMAC fingerprints that stand for
	// credentials in the audit log (at least 32 bytes). Use the strategies'
	// key, so audit lines match their log lines.
	FingerprintKey []byte
	// SecureCookies sets the Secure attribute on cookies (serve over TLS).
	SecureCookies bool
	// Exit ends the process for /_admin/exit; nil disables the endpoint.
	Exit func(code int)
	// AllowPreload enables POST /_admin/preload, which mints sessions for
	// seeded users without their passwords (the harness's scale runs). Off
	// in any real deployment.
	AllowPreload bool
	// Logger receives the gateway's logs; nil means slog.Default(). Lines
	// about a request carry its request_id.
	Logger *slog.Logger
	// Audit receives the audit log: one JSON line per login, logout,
	// refresh, refresh-token reuse and revocation. nil discards it.
	Audit io.Writer
	// LoginLimiter throttles failed logins per account; nil means an
	// in-memory limiter with internal/loginlimit's defaults (per instance).
	LoginLimiter LoginLimiter
	// TrustedProxies are the peers whose X-Forwarded-For (client address),
	// X-Forwarded-Proto and X-Forwarded-Host (the service's own origin) are
	// believed. nil trusts no one: the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// AllowedOrigins are origins ("https://app.example.com") allowed on
	// state-changing requests besides the service's own.
	AllowedOrigins []string
	// Registry receives the gateway's metrics, served by AdminHandler on
	// /metrics; nil means a fresh registry. Pass one to serve other
	// collectors (the Redis client's hook) on the same page.
	Registry *prometheus.Registry
	// Transport is the round tripper towards the backend; nil means a tuned
	// http.Transport.
	Transport http.RoundTripper
}

// Validate reports a configuration error.
func (c Config) Validate() error {
	switch {
	case c.InstanceID == "":
		return errors.New("gateway: instance id is empty")
	case c.Strategy == nil:
		return errors.New("gateway: no strategy")
	case c.Passwords == nil:
		return errors.New("gateway: no password verifier")
	case c.Backend == nil || c.Backend.Host == "":
		return errors.New("gateway: backend url is empty")
	case c.Assertions == nil:
		return errors.New("gateway: no assertion issuer")
	case len(c.AdminToken) < 16:
		return errors.New("gateway: admin token shorter than 16 bytes")
	case len(c.FingerprintKey) < MinFingerprintKeyLen:
		return fmt.Errorf("gateway: fingerprint key is %d bytes, want at least %d", len(c.FingerprintKey), MinFingerprintKeyLen)
	}
	for _, o := range c.AllowedOrigins {
		if _, err := parseOrigin(o); err != nil {
			return fmt.Errorf("gateway: allowed origin %q: %w", o, err)
		}
	}
	return nil
}

// Gateway is the HTTP gateway.
type Gateway struct {
	cfg       Config
	caps      strategies.Capabilities
	transport strategies.Transport
	proxy     *httputil.ReverseProxy
	log       *slog.Logger
	audit     *audit.Logger
	fp        strategies.Fingerprinter
	limiter   LoginLimiter
	trust     proxyTrust
	origins   map[string]bool
	metrics   *metrics
	engine    *gin.Engine
	admin     *gin.Engine
}

// New builds a Gateway.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	g := &Gateway{
		cfg:     cfg,
		caps:    cfg.Strategy.Capabilities(),
		log:     reqlog.Logger(cfg.Logger).With("instance", cfg.InstanceID, "strategy", cfg.Strategy.Name()),
		audit:   audit.New(cfg.Audit, cfg.InstanceID),
		fp:      strategies.NewFingerprinter(cfg.FingerprintKey),
		limiter: cfg.LoginLimiter,
		trust:   proxyTrust{cfg.TrustedProxies},
		origins: make(map[string]bool, len(cfg.AllowedOrigins)),
	}
	for _, o := range cfg.AllowedOrigins {
		n, _ := parseOrigin(o)
		g.origins[n] = true
	}
	if g.limiter == nil {
		m, err := loginlimit.NewMemory(loginlimit.Config{})
		if err != nil {
			return nil, err
		}
		g.limiter = m
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg, cfg.Strategy)
	if err != nil {
		return nil, err
	}
	g.metrics = m
	g.transport = strategies.TransportFor(g.caps, cfg.SecureCookies)
	rt := cfg.Transport
	if rt == nil {
		rt = newBackendTransport()
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:      g.rewrite,
		Transport:    rt,
		BufferPool:   bufpool.New(),
		ErrorHandler: g.proxyError,
		// The gateway already set these on the response; the backend's
		// copies would be appended as second values.
		ModifyResponse: func(res *http.Response) error {
			res.Header.Del(requestid.Header)
			res.Header.Del(InstanceHeader)
			if st := reqStateFrom(res.Request.Context()); st != nil {
				st.setServerTiming(res.Header, st.serverTiming(time.Now()))
			}
			return nil
		},
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	g.engine = g.routes()
	g.admin = g.adminRoutes()
	return g, nil
}

// Handler returns the data plane: /auth/*, /api/*, /healthz, /readyz.
func (g *Gateway) Handler() http.Handler { return g.engine }

// AdminHandler returns the admin plane: GET /healthz, GET /readyz,
// GET /metrics, and the token-guarded POST /_admin/exit and GET
// /_admin/stats. Serve it on a loopback address of its own.
func (g *Gateway) AdminHandler() http.Handler { return g.admin }

func newEngine() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.ForwardedByClientIP = false // client addresses: proxyTrust
	r.NoRoute(func(c *gin.Context) {
		abort(c, http.StatusNotFound, apierr.CodeNotFound, "no such route: "+c.Request.URL.Path)
	})
	r.NoMethod(func(c *gin.Context) {
		abort(c, http.StatusMethodNotAllowed, "method_not_allowed", c.Request.Method+" not allowed on "+c.Request.URL.Path)
	})
	return r
}

func (g *Gateway) routes() *gin.Engine {
	r := newEngine()
	r.Use(g.observe, g.recover)
	r.GET("/healthz", g.healthz)
	r.GET("/readyz", g.readyz)
	auth := r.Group("/auth", g.sameOrigin, g.requireJSON)
	auth.POST("/login", g.login)
	auth.POST("/refresh", g.refresh)
	auth.POST("/logout", g.logout)
	r.Any("/api/*path", g.sameOriginUnsafe, g.authenticate, g.forward)
	return r
}

func (g *Gateway) adminRoutes() *gin.Engine {
	r := newEngine()
	r.Use(g.adminObserve, g.recover)
	r.GET("/healthz", g.healthz)
	r.GET("/readyz", g.readyz)
	r.GET("/metrics", gin.WrapH(g.metrics.handler()))
	admin := r.Group("/_admin", g.requireAdmin)
	admin.POST("/exit", g.exit)
	admin.GET("/stats", g.stats)
	admin.POST("/preload", g.preload)
	return r
}

// observe gives every data-plane request its id (a valid incoming
// X-Request-Id, else a new one) and its state (reqState: start time for
// Server-Timing, the assertion to forward) in its context, puts the id on
// its response, names the instance, and records the request's metrics.
func (g *Gateway) observe(c *gin.Context) {
	start := time.Now()
	id := requestid.OrNew(c.GetHeader(requestid.Header))
	ctx := withReqState(requestid.With(c.Request.Context(), id), &reqState{start: start})
	c.Request = c.Request.WithContext(ctx)
	h := c.Writer.Header()
	h.Set(InstanceHeader, g.cfg.InstanceID)
	h.Set(requestid.Header, id)
	defer func() {
		route, status, took := c.FullPath(), c.Writer.Status(), time.Since(start)
		g.metrics.request(route, status, took)
		if g.log.Enabled(ctx, slog.LevelDebug) { // no per-request cost unless asked for
			g.log.LogAttrs(ctx, slog.LevelDebug, "request", slog.String("method", c.Request.Method),
				slog.String("route", route), slog.Int("status", status), slog.Duration("took", took))
		}
	}()
	c.Next()
}

// adminObserve is observe for the admin plane, minus the metrics.
func (g *Gateway) adminObserve(c *gin.Context) {
	id := requestid.OrNew(c.GetHeader(requestid.Header))
	c.Request = c.Request.WithContext(requestid.With(c.Request.Context(), id))
	c.Header(InstanceHeader, g.cfg.InstanceID)
	c.Header(requestid.Header, id)
	c.Next()
}

// recover turns a panic into a logged 500 with the JSON error shape. It is
// a last line of defence: no input is expected to reach it.
func (g *Gateway) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel re-panic, as net/http does
				panic(v)
			}
			g.log.ErrorContext(c.Request.Context(), "panic serving request", "route", c.FullPath(), "panic", v)
			abort(c, http.StatusInternalServerError, apierr.CodeInternal, "internal error")
		}
	}()
	c.Next()
}

func abort(c *gin.Context, status int, code, msg string) {
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, apierr.Body{Error: code, Message: msg})
}

func (g *Gateway) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok", "instance": g.cfg.InstanceID})
}
