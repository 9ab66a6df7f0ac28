package gateway_test

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/authlab/authlab/internal/loginlimit"
	"github.com/authlab/authlab/internal/redisx/redistest"
	"github.com/authlab/authlab/internal/requestid"
	"github.com/authlab/authlab/strategies"
)

// TestLoginThrottleAcrossInstances: two gateways sharing one Redis share
// the throttle. 30 wrong passwords for one user, alternating between the
// instances, end in 429 with Retry-After on both, while another user logs
// in at once.
func TestLoginThrottleAcrossInstances(t *testing.T) {
	s := newStack(t, variant{name: "redis-session", strategy: "redis-session"})
	// A second instance with its own Redis client (as another process
	// would have), on the same Redis.
	lim, err := loginlimit.NewRedis(redistest.Client(t, s.redis), fpKey, loginlimit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	gw2, _ := s.gateway(t, "gw-it-2", lim, nil)
	instances := []string{s.gw.URL, gw2.URL}

	// Another user logs in meanwhile, on both instances (plain requests:
	// t.Fatal belongs to the test's goroutine).
	var (
		wg        sync.WaitGroup
		bystander []string
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 4 {
			bystander = append(bystander, postLogin(instances[i%2], "user0008", userPW))
		}
	}()
	statuses := map[int]int{}
	for i := range 30 {
		c := s.client(t)
		c.base = instances[i%2]
		statuses[c.login("user0007", "wrong-password").status]++
	}
	wg.Wait()
	for i, got := range bystander {
		if got != "200" {
			t.Fatalf("another user's login %d during the attack: %s, want 200", i, got)
		}
	}
	if statuses[401] != 5 || statuses[429] != 25 {
		t.Fatalf("30 wrong passwords over two instances: %v, want 5×401 then 25×429 (a shared count)", statuses)
	}
	for _, base := range instances {
		c := s.client(t)
		c.base = base
		r := c.login("user0007", userPW)
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if r.status != 429 || err != nil || secs < 1 || r.body["error"] != "too_many_requests" {
			t.Fatalf("locked user with the right password on %s: %d Retry-After %q %v, want 429", base, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	keys, err := redistest.Client(t, s.redis).Keys(t.Context(), "authlab:login:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("no throttle keys in Redis (%v)", err)
	}
	for _, k := range keys {
		if strings.Contains(k, "user0007") {
			t.Fatalf("throttle key %q holds the user name", k)
		}
	}
}

// TestInMemoryThrottleWithoutRedis: sticky and none throttle in memory and
// never need Redis.
func TestInMemoryThrottleWithoutRedis(t *testing.T) {
	for _, v := range []variant{{name: "none", strategy: "none"}, {name: "sticky", strategy: "sticky"}} {
		t.Run(v.name, func(t *testing.T) {
			s := newStack(t, v)
			if s.redis != nil {
				t.Fatal("stack started Redis")
			}
			for range 5 {
				s.client(t).login("user0009", "wrong")
			}
			if r := s.client(t).login("user0009", "wrong"); r.status != 429 {
				t.Fatalf("sixth wrong password: %d, want 429", r.status)
			}
		})
	}
}

func scrape(t *testing.T, s *stack) string {
	t.Helper()
	resp, err := http.Get(s.admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestStrategyMetricsEndToEnd: real strategies export their counters:
// sticky's live sessions, opaque's cache hits, misses and evictions, and
// the Redis client's calls through the hook.
func TestStrategyMetricsEndToEnd(t *testing.T) {
	t.Run("sticky", func(t *testing.T) {
		s := newStack(t, variant{name: "sticky", strategy: "sticky"})
		c := s.client(t)
		c.login("user0001", userPW)
		if !strings.Contains(scrape(t, s), `authlab_gateway_sessions{strategy="sticky"} 1`) {
			t.Fatalf("live sessions not 1 after a login:\n%s", grep(scrape(t, s), "sessions"))
		}
		c.do("POST", "/auth/logout", "")
		if !strings.Contains(scrape(t, s), `authlab_gateway_sessions{strategy="sticky"} 0`) {
			t.Fatalf("live sessions not 0 after logout:\n%s", grep(scrape(t, s), "sessions"))
		}
	})
	t.Run("opaque", func(t *testing.T) {
		s := newStack(t, variant{name: "opaque", strategy: "opaque", args: []string{"--opaque-cache-size", "1"}})
		a, b := s.client(t), s.client(t)
		a.login("user0001", userPW)
		b.login("user0002", userPW) // evicts a's entry (cache of 1)
		a.do("GET", "/api/me", "")  // miss (and evicts b's)
		a.do("GET", "/api/me", "")  // hit
		page := scrape(t, s)
		for _, want := range []string{
			`authlab_gateway_cache_hits_total{strategy="opaque"} 1`,
			`authlab_gateway_cache_misses_total{strategy="opaque"} 1`,
			`authlab_gateway_cache_evictions_total{strategy="opaque"} 2`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("missing %s in:\n%s", want, grep(page, "cache"))
			}
		}
		if !strings.Contains(page, `authlab_redis_commands_total{command="get"}`) || !strings.Contains(page, `authlab_redis_commands_total{command="set"}`) {
			t.Errorf("Redis calls not counted:\n%s", grep(page, "authlab_redis"))
		}
	})
}

func grep(page, word string) string {
	var out []string
	for _, l := range strings.Split(page, "\n") {
		if strings.Contains(l, word) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestAuditAndRequestIDEndToEnd: for every strategy, a login and a logout
// each leave one audit line naming the request id the client sent; the
// id reaches the backend's log; no raw credential is in any log.
func TestAuditAndRequestIDEndToEnd(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			s := newStack(t, v)
			c := s.client(t)
			c.extra = map[string]string{requestid.Header: "it-login-1"}
			r := c.login("user0003", userPW)
			if r.status != 200 || r.header.Get(requestid.Header) != "it-login-1" {
				t.Fatalf("login: %d, X-Request-Id %q", r.status, r.header.Get(requestid.Header))
			}
			cred := c.bearer
			if s.caps.Transport == strategies.TransportCookie {
				cred = c.http.Jar.Cookies(mustURL(t, s.gw.URL))[0].Value
			}
			c.extra = map[string]string{requestid.Header: "it-me-1"}
			if me := c.do("GET", "/api/me", ""); len(me.header.Values(requestid.Header)) != 1 || me.header.Get(requestid.Header) != "it-me-1" {
				t.Fatalf("/api/me X-Request-Id = %q, want it-me-1 once (the backend echoes it too)", me.header.Values(requestid.Header))
			}
			c.extra = map[string]string{requestid.Header: "it-logout-1"}
			c.do("POST", "/auth/logout", "")

			lines := s.audit.lines(t)
			find := func(event, rid string) map[string]any {
				for _, l := range lines {
					if l["event"] == event && l["request_id"] == rid {
						return l
					}
				}
				t.Fatalf("no %s audit line for %s:\n%s", event, rid, s.audit.String())
				return nil
			}
			login := find("login", "it-login-1")
			if login["outcome"] != "success" || login["user"] != "user0003" || login["client_addr"] != "127.0.0.1" || login["instance"] != "gw-it" {
				t.Fatalf("login line = %v", login)
			}
			logout := find("logout", "it-logout-1")
			wantUser := "user0003"
			if !s.caps.Authenticates {
				wantUser = ""
			}
			if logout["user"] != wantUser && !(v.strategy == "none" && logout["user"] == nil) {
				t.Fatalf("logout line = %v, want user %q", logout, wantUser)
			}
			if s.caps.Authenticates && logout["credential_fp"] != strategies.NewFingerprinter(fpKey).Short(cred) {
				t.Fatalf("logout fingerprint %v, want %s", logout["credential_fp"], strategies.NewFingerprinter(fpKey).Short(cred))
			}
			if cred != "" {
				for name, text := range map[string]string{"audit": s.audit.String(), "gateway log": s.logs.String(), "backend log": s.backendLogs.String()} {
					if strings.Contains(text, cred) {
						t.Fatalf("the raw credential is in the %s", name)
					}
				}
			}
			seen := false
			for _, l := range s.backendLogs.lines(t) {
				if l["msg"] == "request" && l["request_id"] == "it-me-1" && l["path"] == "/api/me" {
					seen = true
				}
			}
			if !seen {
				t.Fatalf("backend logged no request line with id it-me-1:\n%s", s.backendLogs.String())
			}
		})
	}
}

// TestAdminPlaneOverRealListeners: the data port answers 404 for the
// admin plane's paths; the admin port serves them.
func TestAdminPlaneOverRealListeners(t *testing.T) {
	s := newStack(t, variant{name: "jwt", strategy: "jwt"})
	for _, p := range []string{"/_admin/stats", "/metrics"} {
		req, _ := http.NewRequest("GET", s.gw.URL+p, nil)
		req.Header.Set("Authorization", "Bearer admin-token-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("data port %s: %d, want 404", p, resp.StatusCode)
		}
		req.URL = mustURL(t, s.admin.URL+p)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("admin port %s: %d, want 200", p, resp.StatusCode)
		}
	}
	s.client(t).login("user0001", userPW)
	page := scrape(t, s)
	for _, name := range []string{
		"authlab_gateway_requests_total", "authlab_gateway_authenticate_duration_seconds", "authlab_gateway_logins_total",
		"authlab_gateway_logouts_total", "authlab_gateway_refreshes_total", "authlab_redis_commands_total", "go_goroutines",
	} {
		if !strings.Contains(page, name) {
			t.Errorf("/metrics does not name %s", name)
		}
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// postLogin logs user in at base and returns the status (or the error).
func postLogin(base, user, pw string) string {
	resp, err := http.Post(base+"/auth/login", "application/json", strings.NewReader(`{"username":"`+user+`","password":"`+pw+`"}`))
	if err != nil {
		return err.Error()
	}
	resp.Body.Close()
	return strconv.Itoa(resp.StatusCode)
}
