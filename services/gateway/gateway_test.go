package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/authlab/authlab/internal/assertion"
	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/internal/loginlimit"
	"github.com/authlab/authlab/services/auth"
	"github.com/authlab/authlab/strategies"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

var quiet = slog.New(slog.DiscardHandler)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// fakeStrategy is a bearer strategy accepting "good" (user) and "root"
// (admin); "down" simulates an unreachable store.
type fakeStrategy struct{ loggedOut atomic.Int32 }

func (*fakeStrategy) Name() string { return "fake" }
func (*fakeStrategy) Capabilities() strategies.Capabilities {
	return strategies.Capabilities{Transport: strategies.TransportBearer, Authenticates: true, SharedState: true}
}
func (*fakeStrategy) Login(_ context.Context, p identity.Principal) (strategies.Credential, error) {
	if p.User == "storedown" {
		return strategies.Credential{}, strategies.ErrUnavailable
	}
	return strategies.Credential{Token: "good"}, nil
}
func (*fakeStrategy) Authenticate(_ context.Context, raw string) (identity.Principal, error) {
	switch raw {
	case "":
		return identity.Principal{}, strategies.ErrNoCredential
	case "good":
		return identity.Principal{User: "alice", Roles: []string{"user"}}, nil
	case "down":
		return identity.Principal{}, errors.Join(strategies.ErrUnavailable, errors.New("dial tcp: refused"))
	}
	return identity.Principal{}, strategies.ErrInvalidCredential
}
func (f *fakeStrategy) Logout(context.Context, string) error { f.loggedOut.Add(1); return nil }

// fakePasswords accepts "pw"; it counts the passwords it checked.
type fakePasswords struct{ checked atomic.Int32 }

func (f *fakePasswords) Verify(_ context.Context, u, p string) (identity.Principal, error) {
	f.checked.Add(1)
	switch {
	case u == "authdown":
		return identity.Principal{}, errors.New("connection refused")
	case p != "pw":
		return identity.Principal{}, fmt.Errorf("verify: %w", auth.ErrInvalidLogin)
	}
	return identity.Principal{User: u, Roles: []string{"user"}}, nil
}

type fixture struct {
	gw, admin *httptest.Server
	g         *Gateway
	seen      chan http.Header
	exitCode  atomic.Int32
	audit     *syncBuffer
	logs      *syncBuffer
	clock     *fakeClock
}

// newFixture starts a gateway (data and admin planes) in front of a
// recording backend. tune may adjust the config.
func newFixture(t *testing.T, tune ...func(*Config)) *fixture {
	t.Helper()
	f := &fixture{seen: make(chan http.Header, 64), audit: &syncBuffer{}, logs: &syncBuffer{}, clock: newFakeClock()}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.seen <- r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(backend.Close)
	u, _ := url.Parse(backend.URL)
	is, err := assertion.NewIssuer(testKey, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.exitCode.Store(-1)
	lim, err := loginlimit.NewMemory(loginlimit.Config{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		InstanceID: "gw-test", Strategy: &fakeStrategy{}, Passwords: &fakePasswords{},
		Backend: u, Assertions: is, AdminToken: "admin-token-0123456789", FingerprintKey: testKey,
		Exit:         func(code int) { f.exitCode.Store(int32(code)) },
		Logger:       slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Audit:        f.audit,
		LoginLimiter: lim,
	}
	for _, fn := range tune {
		fn(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.g = g
	f.gw = httptest.NewServer(g.Handler())
	t.Cleanup(f.gw.Close)
	f.admin = httptest.NewServer(g.AdminHandler())
	t.Cleanup(f.admin.Close)
	return f
}

// do sends a request to the data plane. POSTs get Content-Type
// application/json unless hdr sets Content-Type ("" removes it).
func (f *fixture) do(t *testing.T, method, path, body string, hdr map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	return doAt(t, f.gw.URL, method, path, body, hdr)
}

// doAdmin sends a request to the admin plane.
func (f *fixture) doAdmin(t *testing.T, method, path, body string, hdr map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	return doAt(t, f.admin.URL, method, path, body, hdr)
}

func doAt(t *testing.T, base, method, path, body string, hdr map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp, m
}

func TestErrorsAreJSON(t *testing.T) {
	f := newFixture(t)
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		code                     string
	}{
		{"login malformed json", "POST", "/auth/login", `{"username":`, nil, 400, "bad_request"},
		{"login empty body", "POST", "/auth/login", ``, nil, 400, "bad_request"},
		{"login not an object", "POST", "/auth/login", `[1,2]`, nil, 400, "bad_request"},
		{"login unknown field", "POST", "/auth/login", `{"username":"a","password":"pw","admin":true}`, nil, 400, "bad_request"},
		{"login missing password", "POST", "/auth/login", `{"username":"a"}`, nil, 400, "bad_request"},
		{"login trailing data", "POST", "/auth/login", `{"username":"a","password":"pw"} {}`, nil, 400, "bad_request"},
		{"login oversized", "POST", "/auth/login", `{"username":"` + strings.Repeat("a", 20000) + `","password":"pw"}`, nil, 400, "bad_request"},
		{"login wrong password", "POST", "/auth/login", `{"username":"a","password":"nope"}`, nil, 401, "unauthorized"},
		{"login auth service down", "POST", "/auth/login", `{"username":"authdown","password":"pw"}`, nil, 503, "unavailable"},
		{"login store down", "POST", "/auth/login", `{"username":"storedown","password":"pw"}`, nil, 503, "unavailable"},
		{"api no credential", "GET", "/api/me", ``, nil, 401, "unauthorized"},
		{"api bad credential", "GET", "/api/me", ``, bearer("forged"), 401, "unauthorized"},
		{"api oversized credential", "GET", "/api/me", ``, bearer(strings.Repeat("x", 10_000)), 401, "unauthorized"},
		{"api store down", "GET", "/api/me", ``, bearer("down"), 503, "unavailable"},
		{"refresh unsupported", "POST", "/auth/refresh", `{"refresh_token":"x"}`, nil, 404, "not_found"},
		{"unknown route", "GET", "/nope", ``, nil, 404, "not_found"},
		{"wrong method", "GET", "/auth/login", ``, nil, 405, "method_not_allowed"},
		{"admin without token", "GET", "/_admin/stats", ``, nil, 401, "unauthorized"},
		{"admin wrong token", "POST", "/_admin/exit", ``, bearer("admin-token-wrong"), 401, "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			do := f.do
			if strings.HasPrefix(tt.path, "/_admin/") {
				do = f.doAdmin
			}
			resp, m := do(t, tt.method, tt.path, tt.body, tt.hdr)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %v)", resp.StatusCode, tt.status, m)
			}
			if m["error"] != tt.code || m["message"] == "" || m["message"] == nil {
				t.Fatalf("body = %v, want error %q with a message", m, tt.code)
			}
			if got := resp.Header.Get(InstanceHeader); got != "gw-test" {
				t.Fatalf("%s = %q", InstanceHeader, got)
			}
		})
	}
	if got := f.exitCode.Load(); got != -1 {
		t.Fatalf("exit called with %d by an unauthorized request", got)
	}
}

func TestForwardStripsClientIdentity(t *testing.T) {
	f := newFixture(t)
	v, _ := assertion.NewVerifier(testKey, nil)
	forged, _ := func() (string, error) {
		is, _ := assertion.NewIssuer([]byte(strings.Repeat("k", 32)), 0, nil)
		return is.Issue(identity.Principal{User: "mallory", Roles: []string{"admin"}})
	}()
	resp, _ := f.do(t, "GET", "/api/admin/stats", "", map[string]string{
		"Authorization":    "Bearer good",
		assertion.Header:   forged,
		"X-Authlab-User":   "admin",
		"X-Authlab-Roles":  "admin",
		"X-Forwarded-User": "admin",
		"X-Remote-User":    "admin",
		"Cookie":           "authlab_session=abc",
		"X-Request-Id":     "keep-me",
	})
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	h := <-f.seen
	for _, name := range []string{"X-Authlab-User", "X-Authlab-Roles", "X-Forwarded-User", "X-Remote-User", "Authorization", "Cookie"} {
		if h.Get(name) != "" {
			t.Errorf("backend received client header %s: %q", name, h.Get(name))
		}
	}
	if h.Get("X-Request-Id") != "keep-me" {
		t.Errorf("unrelated header dropped")
	}
	p, err := v.Verify(h.Get(assertion.Header))
	if err != nil {
		t.Fatalf("backend got no valid assertion: %v", err)
	}
	if p.User != "alice" || p.HasRole("admin") {
		t.Fatalf("assertion principal = %+v, want alice without admin", p)
	}
}

func TestLoginBearerBody(t *testing.T) {
	f := newFixture(t)
	resp, m := f.do(t, "POST", "/auth/login", `{"username":"bob","password":"pw"}`, nil)
	if resp.StatusCode != 200 || m["user"] != "bob" || m["access_token"] != "good" || m["token_type"] != "Bearer" {
		t.Fatalf("login = %d %v", resp.StatusCode, m)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("login response cacheable")
	}
}

func TestBackendDownIs502(t *testing.T) {
	is, _ := assertion.NewIssuer(testKey, 0, nil)
	u := &url.URL{Scheme: "http", Host: refusingAddr(t)}
	g, err := New(Config{InstanceID: "gw", Strategy: &fakeStrategy{}, Passwords: &fakePasswords{}, Backend: u, Assertions: is, AdminToken: "admin-token-0123456789", FingerprintKey: testKey, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer good")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), `"bad_gateway"`) {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), u.Host) || strings.Contains(string(body), "dial") {
		t.Fatalf("502 body leaks the backend address or the raw error: %s", body)
	}
}

func TestAdminExit(t *testing.T) {
	f := newFixture(t)
	resp, m := f.doAdmin(t, "POST", "/_admin/exit", "", map[string]string{"Authorization": "Bearer admin-token-0123456789"})
	if resp.StatusCode != http.StatusAccepted || m["instance"] != "gw-test" {
		t.Fatalf("exit = %d %v", resp.StatusCode, m)
	}
	if got := f.exitCode.Load(); got != 137 {
		t.Fatalf("Exit called with %d, want 137", got)
	}
}

func TestConfigValidate(t *testing.T) {
	is, _ := assertion.NewIssuer(testKey, 0, nil)
	u, _ := url.Parse("http://127.0.0.1:1")
	good := Config{InstanceID: "gw", Strategy: &fakeStrategy{}, Passwords: &fakePasswords{}, Backend: u, Assertions: is, AdminToken: "admin-token-0123456789", FingerprintKey: testKey,
		AllowedOrigins: []string{"https://app.example.com", "http://127.0.0.1:3000"}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"no id":         func(c *Config) { c.InstanceID = "" },
		"no strategy":   func(c *Config) { c.Strategy = nil },
		"no passwords":  func(c *Config) { c.Passwords = nil },
		"no backend":    func(c *Config) { c.Backend = nil },
		"no assertions": func(c *Config) { c.Assertions = nil },
		"short admin":   func(c *Config) { c.AdminToken = "x" },
		"short fp key":  func(c *Config) { c.FingerprintKey = []byte("short") },
		"origin path":   func(c *Config) { c.AllowedOrigins = []string{"https://app.example.com/login"} },
		"origin scheme": func(c *Config) { c.AllowedOrigins = []string{"ftp://app.example.com"} },
		"origin bare":   func(c *Config) { c.AllowedOrigins = []string{"app.example.com"} },
	} {
		c := good
		mut(&c)
		if c.Validate() == nil {
			t.Errorf("%s: Validate accepted", name)
		}
	}
}

func TestStripIdentityHeaders(t *testing.T) {
	h := http.Header{}
	for _, k := range []string{"X-Authlab-Assertion", "x-authlab-user", "X-Forwarded-User", "X-Forwarded-Email", "X-Remote-User", "X-User", "X-User-Id", "X-Auth-Request-User", "Remote-User", "Authorization", "Cookie", "Accept"} {
		h[http.CanonicalHeaderKey(k)] = []string{"v"}
	}
	h["x-authlab-raw"] = []string{"non-canonical"}
	for _, k := range []string{"X_Authlab_User", "x-remote_user", "X-USER", "x_forwarded_user", "AUTHORIZATION", "cookie"} {
		h[k] = []string{"raw name"}
	}
	StripIdentityHeaders(h)
	if len(h) != 1 || h.Get("Accept") != "v" {
		t.Fatalf("left %v", h)
	}
}

// refusingAddr returns a loopback address where connections are refused
// for the whole test: a TCP socket bound to it and never listening holds
// the port. (A server started and closed freed its port, and once the
// gateway's own test server was given that very port: the gateway proxied
// to itself and answered 401.)
func refusingAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}
