// Package gateway is authlab's API gateway: gin in front of the auth and
// backend services, with one interchangeable authentication strategy.
//
// The gateway authenticates at the edge, strips every identity header a
// client may have sent, and forwards the request to the backend with a
// signed internal identity assertion. It never authorizes roles itself: the
// backend does.
package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authlab/authlab/internal/apierr"
	"github.com/authlab/authlab/internal/assertion"
	"github.com/authlab/authlab/internal/bufpool"
	"github.com/authlab/authlab/strategies"
)

// InstanceHeader names the instance that served a response.
const InstanceHeader = "X-Authlab-Instance"

// maxBodyBytes bounds JSON request bodies of the /auth endpoints.
const maxBodyBytes = 8 << 10

// PasswordVerifier checks a username and password (the auth service's
// client implements it). It returns an error wrapping
// strategies.ErrInvalidCredential for a wrong user or password and any
// other error when it cannot answer.
type PasswordVerifier interface {
	Verify(ctx context.Context, username, password string) (strategies.Principal, error)
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
	// SecureCookies sets the Secure attribute on cookies (serve over TLS).
	SecureCookies bool
	// Exit ends the process for /_admin/exit; nil means os.Exit via the
	// caller (the zero value disables the endpoint).
	Exit func(code int)
	// Logger receives the gateway's logs; nil means slog.Default().
	Logger *slog.Logger
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
	engine    *gin.Engine
}

type principalKey struct{}

// New builds a Gateway.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	g := &Gateway{
		cfg:  cfg,
		caps: cfg.Strategy.Capabilities(),
		log:  cfg.Logger.With("instance", cfg.InstanceID, "strategy", cfg.Strategy.Name()),
	}
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
		ErrorLog:     slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	g.engine = g.routes()
	return g, nil
}

// Handler returns the gateway's HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.engine }

func newBackendTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // never route loopback traffic through an env proxy
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		ForceAttemptHTTP2:     false,
	}
}

func (g *Gateway) routes() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(g.instanceHeader, g.recover)
	r.NoRoute(func(c *gin.Context) {
		abort(c, http.StatusNotFound, apierr.CodeNotFound, "no such route: "+c.Request.URL.Path)
	})
	r.NoMethod(func(c *gin.Context) {
		abort(c, http.StatusMethodNotAllowed, "method_not_allowed", c.Request.Method+" not allowed on "+c.Request.URL.Path)
	})
	r.GET("/healthz", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "ok", "instance": g.cfg.InstanceID})
	})
	r.GET("/readyz", g.readyz)
	r.POST("/auth/login", g.login)
	r.POST("/auth/refresh", g.refresh)
	r.POST("/auth/logout", g.logout)
	r.Any("/api/*path", g.authenticate, g.forward)
	admin := r.Group("/_admin", g.requireAdmin)
	admin.POST("/exit", g.exit)
	admin.GET("/stats", g.stats)
	return r
}

func (g *Gateway) instanceHeader(c *gin.Context) {
	c.Header(InstanceHeader, g.cfg.InstanceID)
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
			g.log.Error("panic serving request", "path", c.Request.URL.Path, "panic", v)
			abort(c, http.StatusInternalServerError, apierr.CodeInternal, "internal error")
		}
	}()
	c.Next()
}

func abort(c *gin.Context, status int, code, msg string) {
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, apierr.Body{Error: code, Message: msg})
}

// credentialError answers a strategy error: 401 for a missing or invalid
// credential, 503 for anything else (a store that cannot be reached).
func (g *Gateway) credentialError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, strategies.ErrNoCredential):
		g.unauthorized(c, "no credential")
	case errors.Is(err, strategies.ErrInvalidCredential):
		g.unauthorized(c, "invalid, expired or revoked credential")
	default:
		g.log.Warn("credential store unavailable", "err", err)
		c.Header("Retry-After", "1")
		abort(c, http.StatusServiceUnavailable, apierr.CodeUnavailable, "credential store unavailable, retry later")
	}
}

func (g *Gateway) unauthorized(c *gin.Context, msg string) {
	if g.caps.Transport == strategies.TransportBearer {
		c.Header("WWW-Authenticate", `Bearer realm="authlab"`)
	}
	abort(c, http.StatusUnauthorized, apierr.CodeUnauthorized, msg)
}

// decodeJSON reads a small JSON object into v; it answers 400 itself and
// returns false on any problem.
func decodeJSON(c *gin.Context, v any) bool {
	body := http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		msg := "malformed JSON body: " + err.Error()
		if errors.As(err, &tooBig) {
			msg = fmt.Sprintf("body larger than %d bytes", maxBodyBytes)
		} else if errors.Is(err, io.EOF) {
			msg = "empty body, want a JSON object"
		}
		abort(c, http.StatusBadRequest, apierr.CodeBadRequest, msg)
		return false
	}
	if dec.More() {
		abort(c, http.StatusBadRequest, apierr.CodeBadRequest, "trailing data after the JSON object")
		return false
	}
	return true
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type loginResponse struct {
	User         string   `json:"user"`
	Roles        []string `json:"roles"`
	AccessToken  string   `json:"access_token,omitempty"`
	TokenType    string   `json:"token_type,omitempty"`
	ExpiresIn    int64    `json:"expires_in,omitempty"`
	RefreshToken string   `json:"refresh_token,omitempty"`
}

func (g *Gateway) login(c *gin.Context) {
	var req loginRequest
	if !decodeJSON(c, &req) {
		return
	}
	if req.Username == "" || req.Password == "" {
		abort(c, http.StatusBadRequest, apierr.CodeBadRequest, `"username" and "password" are required`)
		return
	}
	if len(req.Username) > 256 || len(req.Password) > 1024 {
		abort(c, http.StatusBadRequest, apierr.CodeBadRequest, "username or password too long")
		return
	}
	ctx := c.Request.Context()
	p, err := g.cfg.Passwords.Verify(ctx, req.Username, req.Password)
	if err != nil {
		if errors.Is(err, strategies.ErrInvalidCredential) {
			g.unauthorized(c, "wrong username or password")
			return
		}
		g.log.Warn("auth service unavailable", "err", err)
		abort(c, http.StatusServiceUnavailable, apierr.CodeUnavailable, "auth service unavailable, retry later")
		return
	}
	cred, err := g.cfg.Strategy.Login(ctx, p)
	if err != nil {
		g.credentialError(c, err)
		return
	}
	g.transport.Write(c.Writer, cred)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, g.loginBody(p, cred))
}

func (g *Gateway) loginBody(p strategies.Principal, cred strategies.Credential) loginResponse {
	resp := loginResponse{User: p.User, Roles: p.Roles}
	if g.caps.Transport == strategies.TransportBearer {
		resp.AccessToken = cred.Token
		resp.TokenType = "Bearer"
		if !cred.ExpiresAt.IsZero() {
			resp.ExpiresIn = int64(time.Until(cred.ExpiresAt).Round(time.Second) / time.Second)
		}
		resp.RefreshToken = cred.RefreshToken
	}
	return resp
}

func (g *Gateway) refresh(c *gin.Context) {
	r, ok := g.cfg.Strategy.(strategies.Refresher)
	if !ok || !g.caps.Refreshable {
		abort(c, http.StatusNotFound, apierr.CodeNotFound, "strategy "+g.cfg.Strategy.Name()+" has no refresh tokens")
		return
	}
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if !decodeJSON(c, &req) {
		return
	}
	if req.RefreshToken == "" {
		abort(c, http.StatusBadRequest, apierr.CodeBadRequest, `"refresh_token" is required`)
		return
	}
	if len(req.RefreshToken) > strategies.MaxCredentialLen {
		g.unauthorized(c, "invalid refresh token")
		return
	}
	cred, p, err := r.Refresh(c.Request.Context(), req.RefreshToken)
	if err != nil {
		g.credentialError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, g.loginBody(p, cred))
}

func (g *Gateway) logout(c *gin.Context) {
	raw := g.transport.Extract(c.Request)
	if raw != "" && len(raw) <= strategies.MaxCredentialLen {
		if err := g.cfg.Strategy.Logout(c.Request.Context(), raw); err != nil {
			g.credentialError(c, err)
			return
		}
	}
	g.transport.Clear(c.Writer)
	c.Status(http.StatusNoContent)
}

func (g *Gateway) authenticate(c *gin.Context) {
	raw := g.transport.Extract(c.Request)
	if len(raw) > strategies.MaxCredentialLen {
		g.unauthorized(c, "credential too long")
		return
	}
	p, err := g.cfg.Strategy.Authenticate(c.Request.Context(), raw)
	if err != nil {
		g.credentialError(c, err)
		return
	}
	tok, err := g.cfg.Assertions.Issue(p)
	if err != nil {
		g.log.Error("sign identity assertion", "err", err)
		abort(c, http.StatusInternalServerError, apierr.CodeInternal, "cannot sign identity assertion")
		return
	}
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), principalKey{}, tok))
	c.Next()
}

func (g *Gateway) forward(c *gin.Context) {
	g.proxy.ServeHTTP(c.Writer, c.Request)
}

// identityHeaderPrefixes lists header prefixes a client could use to claim
// an identity; all are removed before forwarding.
var identityHeaderPrefixes = []string{
	"X-Authlab-", "X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups",
	"X-Forwarded-Preferred-Username", "X-Remote-", "X-User", "X-Auth-", "X-Roles", "Remote-User",
}

// StripIdentityHeaders removes every header a client could use to claim an
// identity, plus the client's own credential (the backend never needs it).
func StripIdentityHeaders(h http.Header) {
	for name := range h {
		for _, p := range identityHeaderPrefixes {
			if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
				delete(h, name)
				break
			}
		}
	}
	h.Del("Authorization")
	h.Del("Cookie")
}

func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(g.cfg.Backend)
	pr.Out.Host = g.cfg.Backend.Host
	StripIdentityHeaders(pr.Out.Header)
	if tok, ok := pr.In.Context().Value(principalKey{}).(string); ok {
		pr.Out.Header.Set(assertion.Header, tok)
	}
	pr.SetXForwarded()
}

func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return // client went away
	}
	g.log.Warn("backend unreachable", "path", r.URL.Path, "err", err)
	apierr.Write(w, http.StatusBadGateway, apierr.CodeBadGateway, "backend service unreachable")
}

func (g *Gateway) readyz(c *gin.Context) {
	if chk, ok := g.cfg.Strategy.(strategies.Checker); ok {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 500*time.Millisecond)
		defer cancel()
		if err := chk.Check(ctx); err != nil {
			abort(c, http.StatusServiceUnavailable, apierr.CodeUnavailable, "store unreachable: "+err.Error())
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "instance": g.cfg.InstanceID})
}

func (g *Gateway) requireAdmin(c *gin.Context) {
	got := strings.TrimSpace(strings.TrimPrefix(c.GetHeader("Authorization"), "Bearer "))
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(g.cfg.AdminToken)) != 1 {
		abort(c, http.StatusUnauthorized, apierr.CodeUnauthorized, "admin token missing or wrong")
		return
	}
	c.Next()
}

// exit answers 202 and ends the process at once, without draining: the
// lb's kill for instances it did not start.
func (g *Gateway) exit(c *gin.Context) {
	if g.cfg.Exit == nil {
		abort(c, http.StatusNotFound, apierr.CodeNotFound, "exit endpoint disabled")
		return
	}
	g.log.Warn("exiting at once on admin request")
	c.JSON(http.StatusAccepted, gin.H{"status": "exiting", "instance": g.cfg.InstanceID})
	c.Writer.Flush()
	g.cfg.Exit(137)
}

type sessionCounter interface{ SessionCount() int }

type cacheStatser interface {
	HitsMisses() (hits, misses uint64)
}

// Stats is the body of GET /_admin/stats.
type Stats struct {
	Instance     string                  `json:"instance"`
	Strategy     string                  `json:"strategy"`
	Capabilities strategies.Capabilities `json:"capabilities"`
	Sessions     *int                    `json:"sessions,omitempty"`
	CacheHits    *uint64                 `json:"cache_hits,omitempty"`
	CacheMisses  *uint64                 `json:"cache_misses,omitempty"`
}

func (g *Gateway) stats(c *gin.Context) {
	s := Stats{Instance: g.cfg.InstanceID, Strategy: g.cfg.Strategy.Name(), Capabilities: g.caps}
	if sc, ok := g.cfg.Strategy.(sessionCounter); ok {
		n := sc.SessionCount()
		s.Sessions = &n
	}
	if cs, ok := g.cfg.Strategy.(cacheStatser); ok {
		h, m := cs.HitsMisses()
		s.CacheHits, s.CacheMisses = &h, &m
	}
	c.JSON(http.StatusOK, s)
}
