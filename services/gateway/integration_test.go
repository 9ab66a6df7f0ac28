package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/authlab/authlab/internal/assertion"
	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/internal/loginlimit"
	"github.com/authlab/authlab/internal/redismetrics"
	"github.com/authlab/authlab/internal/redisx/redistest"
	"github.com/authlab/authlab/services/auth"
	"github.com/authlab/authlab/services/backend"
	"github.com/authlab/authlab/services/gateway"
	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/catalog"
)

var (
	assertionKey = []byte("assertion-key-0123456789abcdef-0123")
	fpKey        = []byte("fingerprint-key-0123456789abcdef-01")
	quietLog     = slog.New(slog.DiscardHandler)
)

const (
	userPW  = "user-password"
	adminPW = "admin-password"
)

// stack is auth + backend + one gateway (data and admin planes) on real
// loopback listeners.
type stack struct {
	gw, admin   *httptest.Server
	redis       *redistest.Server
	caps        strategies.Capabilities
	strat       strategies.Strategy
	audit, logs *lockedBuffer
	backendLogs *lockedBuffer
	authURL     string
	backendURL  *url.URL
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines parses the buffer's JSON lines.
func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		out = append(out, m)
	}
	return out
}

type variant struct {
	name     string // test name
	strategy string
	args     []string // the strategy's flags, as the gateway command takes them
}

var variants = []variant{
	{name: "none", strategy: "none"},
	{name: "sticky", strategy: "sticky"},
	{name: "redis-session", strategy: "redis-session"},
	{name: "jwt", strategy: "jwt"},
	{name: "jwt-denylist", strategy: "jwt", args: []string{"--jwt-denylist"}},
	{name: "jwt-eddsa", strategy: "jwt", args: []string{"--jwt-alg", "EdDSA", "--jwt-ed25519-seed", "ZWQyNTUxOS1zZWVkLTAxMjM0NTY3ODlhYmNkZWYtMDE"}},
	{name: "opaque", strategy: "opaque"},
	{name: "opaque-pubsub", strategy: "opaque", args: []string{"--opaque-pubsub"}},
}

// stackArgs are the strategy flags every stack starts from: a fixed jwt
// key, one-hour sessions without idle timeout, a 30 s opaque cache.
var stackArgs = []string{"--jwt-secret", "jwt-secret-0123456789abcdef-0123456", "--session-ttl", "1h", "--session-idle-ttl", "0", "--opaque-cache-ttl", "30s"}

// buildStrategy builds v's strategy through the catalogue from stackArgs
// and v.args, as the gateway command does.
func buildStrategy(t *testing.T, v variant, deps strategies.Deps) strategies.Strategy {
	t.Helper()
	fs := flag.NewFlagSet(v.name, flag.ContinueOnError)
	builders := catalog.Register(fs)
	if err := fs.Parse(append(slices.Clone(stackArgs), v.args...)); err != nil {
		t.Fatal(err)
	}
	strat, err := builders.Build(context.Background(), v.strategy, deps)
	if err != nil {
		t.Fatalf("build %s: %v", v.name, err)
	}
	return strat
}

func newStack(t *testing.T, v variant) *stack {
	t.Helper()
	dir, err := auth.NewDirectory(auth.Config{SeedUsers: 10, SeedPassword: userPW, AdminPassword: adminPW, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	authSrv := httptest.NewServer(auth.NewHandler(dir, quietLog))
	t.Cleanup(authSrv.Close)
	s := &stack{audit: &lockedBuffer{}, logs: &lockedBuffer{}, backendLogs: &lockedBuffer{}, authURL: authSrv.URL}
	be, err := backend.New(backend.Config{AssertionKey: assertionKey},
		slog.New(slog.NewJSONHandler(s.backendLogs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	backendSrv := httptest.NewServer(be)
	t.Cleanup(backendSrv.Close)

	deps := strategies.Deps{FingerprintKey: fpKey, Logger: quietLog}
	reg := prometheus.NewRegistry()
	var limiter gateway.LoginLimiter
	if catalog.NeedsRedis(v.strategy) {
		s.redis = redistest.Start(t)
		client := redistest.Client(t, s.redis)
		hook, err := redismetrics.New(reg)
		if err != nil {
			t.Fatal(err)
		}
		client.AddHook(hook)
		if limiter, err = loginlimit.NewRedis(client, fpKey, loginlimit.Config{}); err != nil {
			t.Fatal(err)
		}
		deps.Redis = client
	}
	strat := buildStrategy(t, v, deps)
	if c, ok := strat.(strategies.Closer); ok {
		t.Cleanup(func() { _ = c.Close() })
	}
	s.caps, s.strat = strat.Capabilities(), strat
	s.backendURL, _ = url.Parse(backendSrv.URL)
	s.gw, s.admin = s.gateway(t, "gw-it", limiter, reg)
	return s
}

// gateway starts one more gateway of the stack's strategy (data and admin
// planes); a nil limiter means the in-memory default.
func (s *stack) gateway(t *testing.T, id string, limiter gateway.LoginLimiter, reg *prometheus.Registry) (data, admin *httptest.Server) {
	t.Helper()
	is, _ := assertion.NewIssuer(assertionKey, 0, nil)
	g, err := gateway.New(gateway.Config{
		InstanceID: id, Strategy: s.strat, Passwords: auth.NewClient(s.authURL, nil),
		Backend: s.backendURL, Assertions: is, AdminToken: "admin-token-0123456789", FingerprintKey: fpKey,
		Logger:       slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Audit:        s.audit,
		LoginLimiter: limiter,
		Registry:     reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	data = httptest.NewServer(g.Handler())
	t.Cleanup(data.Close)
	admin = httptest.NewServer(g.AdminHandler())
	t.Cleanup(admin.Close)
	return data, admin
}

// client is a user agent: a cookie jar and a bearer token.
type client struct {
	t      *testing.T
	base   string
	http   *http.Client
	bearer string
	extra  map[string]string
}

func (s *stack) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: s.gw.URL, http: &http.Client{Jar: jar, Timeout: 5 * time.Second}}
}

// adminClient talks to the admin plane.
func (s *stack) adminClient(t *testing.T) *client {
	return &client{t: t, base: s.admin.URL, http: &http.Client{Timeout: 5 * time.Second}}
}

type reply struct {
	status int
	body   map[string]any
	header http.Header
	took   time.Duration
}

func (c *client) do(method, path, body string) reply {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for k, v := range c.extra {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, took: time.Since(start)}
	_ = json.Unmarshal(b, &r.body)
	if resp.Header.Get(gateway.InstanceHeader) == "" {
		c.t.Fatalf("%s %s: missing %s header", method, path, gateway.InstanceHeader)
	}
	if r.status >= 400 && (r.body["error"] == nil || r.body["message"] == nil) {
		c.t.Fatalf("%s %s: %d without the JSON error shape: %s", method, path, r.status, b)
	}
	return r
}

func (c *client) login(user, pw string) reply {
	c.t.Helper()
	r := c.do("POST", "/auth/login", `{"username":"`+user+`","password":"`+pw+`"}`)
	if tok, ok := r.body["access_token"].(string); ok {
		c.bearer = tok
	}
	return r
}

func TestLoginMeLogout(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			s := newStack(t, v)
			c := s.client(t)
			if r := c.do("GET", "/api/me", ""); s.caps.Authenticates && r.status != 401 {
				t.Fatalf("before login: %d, want 401", r.status)
			}
			r := c.login("user0001", userPW)
			if r.status != 200 || r.body["user"] != "user0001" {
				t.Fatalf("login: %d %v", r.status, r.body)
			}
			if s.caps.Transport == strategies.TransportBearer && (c.bearer == "" || r.body["token_type"] != "Bearer" || r.body["expires_in"] == nil) {
				t.Fatalf("bearer login body incomplete: %v", r.body)
			}
			me := c.do("GET", "/api/me", "")
			wantUser := "user0001"
			if !s.caps.Authenticates {
				wantUser = "anonymous"
			}
			if me.status != 200 || me.body["user"] != wantUser {
				t.Fatalf("/api/me: %d %v, want %s", me.status, me.body, wantUser)
			}
			stats := s.adminClient(t)
			stats.extra = map[string]string{"Authorization": "Bearer admin-token-0123456789"}
			st := stats.do("GET", "/_admin/stats", "")
			if st.status != 200 || st.body["strategy"] != v.strategy {
				t.Fatalf("/_admin/stats: %d %v", st.status, st.body)
			}
			if v.strategy == "sticky" && st.body["sessions"] != 1.0 {
				t.Fatalf("sticky sessions = %v, want 1", st.body["sessions"])
			}
			if v.strategy == "opaque" && st.body["cache_hits"].(float64) < 1 {
				t.Fatalf("opaque cache_hits = %v, want >= 1 (login caches the token)", st.body["cache_hits"])
			}
			if r := c.do("POST", "/auth/logout", ""); r.status != 204 {
				t.Fatalf("logout: %d", r.status)
			}
			after := c.do("GET", "/api/me", "")
			switch {
			case !s.caps.Authenticates:
				if after.status != 200 {
					t.Fatalf("control group after logout: %d", after.status)
				}
			case s.caps.Transport == strategies.TransportCookie:
				// The browser dropped the cookie; replaying it must fail too.
				if after.status != 401 {
					t.Fatalf("after logout: %d, want 401", after.status)
				}
			case s.caps.RevokesImmediately || v.strategy == "opaque":
				// opaque: the instance that logged out drops its own cache entry.
				if after.status != 401 {
					t.Fatalf("after logout: %d, want 401", after.status)
				}
			default:
				// jwt without denylist: the access token lives until it
				// expires — the finding the revocation scenario measures.
				if after.status != 200 {
					t.Fatalf("jwt without denylist after logout: %d, want 200 until expiry", after.status)
				}
			}
		})
	}
}

func TestCookieReplayAfterLogout(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			s := newStack(t, v)
			if s.caps.Transport != strategies.TransportCookie {
				t.Skip("not a cookie strategy")
			}
			c := s.client(t)
			c.login("user0002", userPW)
			u, _ := url.Parse(s.gw.URL)
			cookies := c.http.Jar.Cookies(u)
			if len(cookies) != 1 || cookies[0].Name != s.caps.CookieName {
				t.Fatalf("cookies after login: %v", cookies)
			}
			stolen := cookies[0].Name + "=" + cookies[0].Value
			c.do("POST", "/auth/logout", "")
			replay := &client{t: t, base: s.gw.URL, http: &http.Client{}, extra: map[string]string{"Cookie": stolen}}
			if r := replay.do("GET", "/api/me", ""); r.status != 401 {
				t.Fatalf("replayed cookie after logout: %d, want 401", r.status)
			}
		})
	}
}

func TestRoles(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			s := newStack(t, v)
			u := s.client(t)
			u.login("user0001", userPW)
			if r := u.do("GET", "/api/admin/stats", ""); r.status != 403 {
				t.Fatalf("user0001 on /api/admin/stats: %d, want 403", r.status)
			}
			if r := u.do("GET", "/api/orders", ""); r.status != 200 {
				t.Fatalf("user0001 on /api/orders: %d, want 200", r.status)
			}
			if !s.caps.Authenticates {
				return // the control group has no admin
			}
			a := s.client(t)
			if r := a.login("admin", adminPW); r.status != 200 {
				t.Fatalf("admin login: %d", r.status)
			}
			if r := a.do("GET", "/api/admin/stats", ""); r.status != 200 {
				t.Fatalf("admin on /api/admin/stats: %d %v, want 200", r.status, r.body)
			}
			bad := s.client(t)
			if r := bad.login("admin", "wrong"); r.status != 401 {
				t.Fatalf("wrong password: %d, want 401", r.status)
			}
		})
	}
}

func TestClientIdentityHeadersIgnored(t *testing.T) {
	forger, _ := assertion.NewIssuer([]byte("attacker-key-0123456789abcdef-0123"), 0, nil)
	forged, _ := forger.Issue(identity.Principal{User: "admin", Roles: []string{"admin", "user"}})
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			s := newStack(t, v)
			c := s.client(t)
			c.login("user0003", userPW)
			c.extra = map[string]string{
				"X-Authlab-User": "admin", "X-Authlab-Roles": "admin", "X-Forwarded-User": "admin",
				assertion.Header: forged,
			}
			if r := c.do("GET", "/api/admin/stats", ""); r.status != 403 {
				t.Fatalf("identity headers honoured: /api/admin/stats %d, want 403", r.status)
			}
			me := c.do("GET", "/api/me", "")
			roles, _ := me.body["roles"].([]any)
			if me.body["user"] == "admin" || slices.Contains(roles, any("admin")) {
				t.Fatalf("/api/me = %v", me.body)
			}
		})
	}
}

func TestHostileCredentialsOverHTTP(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			s := newStack(t, v)
			if !s.caps.Authenticates {
				t.Skip("control group accepts everything")
			}
			c := s.client(t)
			c.login("user0004", userPW)
			valid := c.bearer
			if s.caps.Transport == strategies.TransportCookie {
				u, _ := url.Parse(s.gw.URL)
				valid = c.http.Jar.Cookies(u)[0].Value
			}
			for name, raw := range hostileHTTP(valid) {
				h := &client{t: t, base: s.gw.URL, http: &http.Client{}}
				if s.caps.Transport == strategies.TransportCookie {
					h.extra = map[string]string{"Cookie": s.caps.CookieName + "=" + raw}
				} else {
					h.extra = map[string]string{"Authorization": "Bearer " + raw}
				}
				if r := h.do("GET", "/api/me", ""); r.status != 401 || r.body["error"] != "unauthorized" {
					t.Errorf("%s: %d %v, want 401 unauthorized", name, r.status, r.body)
				}
			}
		})
	}
}

// hostileHTTP is strategytest.Hostile minus values a header cannot carry.
func hostileHTTP(valid string) map[string]string {
	h := map[string]string{
		"garbage":      "not-a-credential",
		"10KB garbage": strings.Repeat("A", 10*1024),
		"oversized":    valid + strings.Repeat("A", strategies.MaxCredentialLen),
		"doubled":      valid + valid,
		"truncated":    valid[:len(valid)-1],
		"half":         valid[:len(valid)/2],
	}
	b := []byte(valid)
	if b[len(b)/2] == 'A' {
		b[len(b)/2] = 'B'
	} else {
		b[len(b)/2] = 'A'
	}
	h["flipped"] = string(b)
	return h
}

// TestRedisOutage: with Redis stopped, strategies that need it answer 503
// (never 500, within a second); once Redis is back the same gateway serves
// again without restart.
func TestRedisOutage(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			s := newStack(t, v)
			if s.redis == nil {
				t.Skip("strategy does not use Redis")
			}
			c := s.client(t)
			if r := c.login("user0005", userPW); r.status != 200 {
				t.Fatalf("login: %d", r.status)
			}
			if err := s.redis.Stop(); err != nil {
				t.Fatal(err)
			}
			fresh := s.client(t)
			r := fresh.login("user0006", userPW)
			if r.status != 503 || r.body["error"] != "unavailable" {
				t.Fatalf("login with Redis down: %d %v, want 503 unavailable", r.status, r.body)
			}
			if r.took > time.Second {
				t.Fatalf("login with Redis down took %v, want < 1s", r.took)
			}
			me := c.do("GET", "/api/me", "")
			switch {
			case v.name == "jwt" || v.name == "jwt-eddsa":
				if me.status != 200 {
					t.Fatalf("jwt without denylist must not depend on Redis: %d", me.status)
				}
			case v.strategy == "opaque":
				if me.status != 200 {
					t.Fatalf("opaque: token cached at login must survive the outage: %d", me.status)
				}
			default:
				if me.status != 503 || me.took > time.Second {
					t.Fatalf("/api/me with Redis down: %d in %v, want 503 within 1s", me.status, me.took)
				}
				t.Logf("/api/me with Redis down answered 503 in %v", me.took)
			}
			if r := s.client(t).do("GET", "/readyz", ""); r.status != 503 {
				t.Fatalf("/readyz with Redis down: %d, want 503", r.status)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.redis.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			// go-redis reconnects on its own; poll readiness rather than sleep.
			deadline := time.Now().Add(5 * time.Second)
			for s.client(t).do("GET", "/readyz", "").status != 200 {
				if time.Now().After(deadline) {
					t.Fatal("gateway not ready 5s after Redis came back")
				}
				time.Sleep(10 * time.Millisecond)
			}
			again := s.client(t)
			if r := again.login("user0006", userPW); r.status != 200 {
				t.Fatalf("login after Redis is back: %d %v", r.status, r.body)
			}
			if r := again.do("GET", "/api/me", ""); r.status != 200 || r.body["user"] != "user0006" {
				t.Fatalf("/api/me after Redis is back: %d %v", r.status, r.body)
			}
		})
	}
}
