package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/authlab/authlab/strategies"
)

const adminBearer = "Bearer admin-token-0123456789"

// TestAdminPlaneApart: /_admin/* and /metrics are served by AdminHandler
// only; the data plane answers 404 JSON for them (and never exits).
func TestAdminPlaneApart(t *testing.T) {
	f := newFixture(t)
	auth := map[string]string{"Authorization": adminBearer}
	for _, tt := range []struct{ method, path string }{
		{"GET", "/_admin/stats"}, {"POST", "/_admin/exit"}, {"GET", "/metrics"}, {"GET", "/_admin/"},
	} {
		resp, m := f.do(t, tt.method, tt.path, "", auth)
		if resp.StatusCode != 404 || m["error"] != "not_found" {
			t.Errorf("data plane %s %s: %d %v, want 404 not_found", tt.method, tt.path, resp.StatusCode, m)
		}
	}
	if got := f.exitCode.Load(); got != -1 {
		t.Fatalf("the data plane's /_admin/exit called Exit(%d)", got)
	}
	if resp, m := f.doAdmin(t, "GET", "/_admin/stats", "", auth); resp.StatusCode != 200 || m["instance"] != "gw-test" {
		t.Fatalf("admin /_admin/stats: %d %v", resp.StatusCode, m)
	}
	if resp, _ := f.doAdmin(t, "GET", "/metrics", "", nil); resp.StatusCode != 200 {
		t.Fatalf("admin /metrics: %d", resp.StatusCode)
	}
	for _, do := range []func(*testing.T, string, string, string, map[string]string) (*http.Response, map[string]any){f.do, f.doAdmin} {
		if resp, m := do(t, "GET", "/healthz", "", nil); resp.StatusCode != 200 || m["status"] != "ok" {
			t.Fatalf("/healthz: %d %v", resp.StatusCode, m)
		}
	}
	// The admin plane serves no data-plane route.
	if resp, _ := f.doAdmin(t, "POST", "/auth/login", `{"username":"bob","password":"pw"}`, nil); resp.StatusCode != 404 {
		t.Fatalf("admin plane /auth/login: %d, want 404", resp.StatusCode)
	}
}

// TestErrorBodiesHideInternals: 503 and /readyz say what failed, without
// addresses or raw error strings (those go to the log).
func TestErrorBodiesHideInternals(t *testing.T) {
	internal := errors.New("dial tcp 10.9.8.7:6379: connect: connection refused")
	s := &checkingStrategy{err: fmt.Errorf("%w: %w", strategies.ErrUnavailable, internal)}
	f := newFixture(t, func(c *Config) { c.Strategy = s })
	for _, tt := range []struct {
		base, path string
		hdr        map[string]string
	}{
		{f.gw.URL, "/readyz", nil},
		{f.admin.URL, "/readyz", nil},
		{f.gw.URL, "/api/me", map[string]string{"Authorization": "Bearer down"}},
	} {
		req, _ := http.NewRequest("GET", tt.base+tt.path, nil)
		for k, v := range tt.hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || !strings.Contains(string(b), `"unavailable"`) {
			t.Fatalf("%s: %d %s, want 503 unavailable", tt.path, resp.StatusCode, b)
		}
		for _, leak := range []string{"10.9.8.7", "6379", "dial", "refused"} {
			if strings.Contains(string(b), leak) {
				t.Fatalf("%s body leaks %q: %s", tt.path, leak, b)
			}
		}
	}
	if !strings.Contains(f.logs.String(), "10.9.8.7:6379") {
		t.Fatal("the raw error is not in the log either")
	}
	s.err = nil
	if resp, m := f.do(t, "GET", "/readyz", "", nil); resp.StatusCode != 200 {
		t.Fatalf("/readyz with the store back: %d %v", resp.StatusCode, m)
	}
}

// TestMetrics: the admin plane's /metrics names requests by route pattern
// (never the raw path), status and strategy; authenticate latency by
// outcome; logins and logouts by outcome; Go runtime and process.
func TestMetrics(t *testing.T) {
	f := newFixture(t)
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	f.do(t, "POST", "/auth/login", `{"username":"bob","password":"pw"}`, nil)
	f.do(t, "POST", "/auth/login", `{"username":"bob","password":"nope"}`, nil)
	f.do(t, "GET", "/api/me", "", bearer("good"))
	f.do(t, "GET", "/api/orders", "", bearer("good"))
	f.do(t, "GET", "/api/me", "", bearer("forged"))
	f.do(t, "GET", "/api/me", "", nil)
	f.do(t, "GET", "/api/me", "", bearer("down"))
	f.do(t, "GET", "/nope/secret-looking-path", "", nil)
	f.do(t, "POST", "/auth/logout", "", bearer("good"))
	f.do(t, "POST", "/auth/logout", "", nil)
	page := f.scrape(t)

	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"authlab_gateway_requests_total", []string{`route="/api/*path"`, `code="200"`, `strategy="fake"`}, 2},
		{"authlab_gateway_requests_total", []string{`route="/api/*path"`, `code="401"`}, 2},
		{"authlab_gateway_requests_total", []string{`route="/api/*path"`, `code="503"`}, 1},
		{"authlab_gateway_requests_total", []string{`route="/auth/login"`, `code="401"`}, 1},
		{"authlab_gateway_requests_total", []string{`route="unmatched"`, `code="404"`}, 1},
		{"authlab_gateway_request_duration_seconds_count", []string{`route="/auth/logout"`}, 2},
		{"authlab_gateway_authenticate_duration_seconds_count", []string{`outcome="ok"`}, 2},
		{"authlab_gateway_authenticate_duration_seconds_count", []string{`outcome="invalid"`}, 1},
		{"authlab_gateway_authenticate_duration_seconds_count", []string{`outcome="no_credential"`}, 1},
		{"authlab_gateway_authenticate_duration_seconds_count", []string{`outcome="unavailable"`}, 1},
		{"authlab_gateway_logins_total", []string{`outcome="success"`}, 1},
		{"authlab_gateway_logins_total", []string{`outcome="failure"`}, 1},
		{"authlab_gateway_logins_total", []string{`outcome="throttled"`}, 0},
		{"authlab_gateway_logouts_total", []string{`outcome="success"`}, 1},
		{"authlab_gateway_logouts_total", []string{`outcome="no_credential"`}, 1},
		{"authlab_gateway_login_limiter_errors_total", nil, 0},
	}
	for _, c := range checks {
		if got := metricValue(t, page, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total"} {
		if !strings.Contains(page, "\n"+name+" ") {
			t.Errorf("metric %s missing", name)
		}
	}
	for _, raw := range []string{`route="/api/me"`, `route="/api/orders"`, "secret-looking-path"} {
		if strings.Contains(page, raw) {
			t.Errorf("a raw path became a label: %s", raw)
		}
	}
}

// TestStrategyMetrics: a strategy's own counters (cache, sessions) are
// exported when it has them.
func TestStrategyMetrics(t *testing.T) {
	s := &statsStrategy{}
	f := newFixture(t, func(c *Config) { c.Strategy = s })
	page := f.scrape(t)
	for name, want := range map[string]float64{
		"authlab_gateway_sessions":              3,
		"authlab_gateway_cache_hits_total":      10,
		"authlab_gateway_cache_misses_total":    4,
		"authlab_gateway_cache_evictions_total": 2,
	} {
		if got := metricValue(t, page, name, `strategy="fake"`); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if plain := newFixture(t).scrape(t); strings.Contains(plain, "authlab_gateway_sessions") || strings.Contains(plain, "cache_hits") {
		t.Error("strategy metrics exported for a strategy without them")
	}
}

type statsStrategy struct{ fakeStrategy }

func (*statsStrategy) SessionCount() int                 { return 3 }
func (*statsStrategy) HitsMisses() (hits, misses uint64) { return 10, 4 }
func (*statsStrategy) CacheEvictions() uint64            { return 2 }

// TestRegistryPerGateway: two gateways in one process do not share metrics.
func TestRegistryPerGateway(t *testing.T) {
	a, b := newFixture(t), newFixture(t)
	a.do(t, "POST", "/auth/login", `{"username":"bob","password":"pw"}`, nil)
	if got := metricValue(t, b.scrape(t), "authlab_gateway_logins_total", `outcome="success"`); got != 0 {
		t.Fatalf("gateway b counted gateway a's login: %v", got)
	}
}
