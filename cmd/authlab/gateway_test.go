package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authlab/authlab/internal/netutil"
	"github.com/authlab/authlab/internal/redisx/redistest"
	"github.com/authlab/authlab/services/auth"
)

type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestGatewayServesTwoPlanes runs `authlab gateway` with a data and an
// admin address: the admin plane alone serves /metrics and /_admin/*, the
// audit log goes to --audit-log, and ending ctx stops both servers.
func TestGatewayServesTwoPlanes(t *testing.T) {
	dir, err := auth.NewDirectory(auth.Config{SeedUsers: 2, SeedPassword: "user-password", AdminPassword: "admin-password", BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	authSrv := httptest.NewServer(auth.NewHandler(dir, slog.New(slog.DiscardHandler)))
	defer authSrv.Close()
	data, err := netutil.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := netutil.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	const token = "cmd-test-admin-token-0123456789"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr lockedWriter
	done := make(chan error, 1)
	go func() {
		done <- runGateway(ctx, []string{
			"--strategy", "sticky", "--listen", data, "--admin-listen", admin,
			"--auth-url", authSrv.URL, "--admin-token", token, "--audit-log", auditPath,
			"--login-max-failures", "2",
		}, io.Discard, &stderr)
	}()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	for _, u := range []string{"http://" + data + "/healthz", "http://" + admin + "/healthz"} {
		if err := netutil.WaitHTTP(wctx, u); err != nil {
			t.Fatalf("%v\n%s", err, stderr.String())
		}
	}
	get := func(url string) int {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for path, want := range map[string][2]int{"/metrics": {404, 200}, "/_admin/stats": {404, 200}} {
		if got := [2]int{get("http://" + data + path), get("http://" + admin + path)}; got != want {
			t.Errorf("%s on data/admin: %v, want %v", path, got, want)
		}
	}
	post := func(ct, body string) *http.Response {
		resp, err := http.Post("http://"+data+"/auth/login", ct, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := post("text/plain", `{"username":"user0001","password":"user-password"}`); r.StatusCode != 415 {
		t.Errorf("text/plain login: %d, want 415", r.StatusCode)
	}
	if r := post("application/json", `{"username":"user0001","password":"user-password"}`); r.StatusCode != 200 {
		t.Errorf("login: %d, want 200", r.StatusCode)
	}
	for range 2 {
		post("application/json", `{"username":"user0002","password":"wrong"}`)
	}
	if r := post("application/json", `{"username":"user0002","password":"user-password"}`); r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
		t.Errorf("after --login-max-failures wrong passwords: %d Retry-After %q, want 429", r.StatusCode, r.Header.Get("Retry-After"))
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runGateway: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runGateway did not return after ctx ended")
	}
	for _, a := range []string{data, admin} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after shutdown", a)
		}
	}
	b, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		if m["event"] == "login" {
			outcomes = append(outcomes, m["user"].(string)+":"+m["outcome"].(string))
		}
	}
	want := "user0001:success user0002:failure user0002:failure user0002:throttled"
	if strings.Join(outcomes, " ") != want {
		t.Fatalf("audit logins = %v, want %s", outcomes, want)
	}
	if strings.Contains(string(b), "user-password") || strings.Contains(stderr.String(), token) {
		t.Fatal("a password or the admin token was written out")
	}
}

func TestGatewayFlagErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for name, args := range map[string][]string{
		"bad trusted proxy":  {"--trusted-proxies", "10.0.0.0/99"},
		"bad allowed origin": {"--allowed-origins", "app.example.com/path"},
		"negative failures":  {"--login-max-failures", "-1"},
		"window below max":   {"--login-lockout-max", "1h", "--login-failure-window", "1m"},
		"unwritable audit":   {"--audit-log", filepath.Join(t.TempDir(), "no", "such", "dir", "audit")},
		"bad admin address":  {"--admin-listen", "256.0.0.1:1"},
		"admin port taken":   {"--admin-listen", taken.Addr().String()},
	} {
		t.Run(name, func(t *testing.T) {
			data, _ := netutil.FreeLoopbackAddr()
			err := runGateway(context.Background(), append([]string{"--strategy", "none", "--listen", data}, args...), io.Discard, io.Discard)
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestGatewayFlagsKeepNamesAndDefaults: scripts, the harness and
// AUTHLAB_* environments pass these flags; each keeps its name and
// default, whichever package defines it (the gateway's own, the
// strategies' through the catalogue).
func TestGatewayFlagsKeepNamesAndDefaults(t *testing.T) {
	want := map[string]string{
		"access-ttl":                   "5m0s",
		"admin-listen":                 "127.0.0.1:8081",
		"allow-preload":                "false",
		"admin-token":                  "",
		"allowed-origins":              "",
		"assertion-key":                "",
		"audit-log":                    "-",
		"auth-url":                     "http://127.0.0.1:8091",
		"backend-url":                  "http://127.0.0.1:8092",
		"fingerprint-key":              "",
		"instance-id":                  "",
		"jwt-alg":                      "HS256",
		"jwt-audience":                 "authlab-api",
		"jwt-denylist":                 "false",
		"jwt-ed25519-seed":             "",
		"jwt-family-lifetime":          "168h0m0s",
		"jwt-issuer":                   "authlab",
		"jwt-kid":                      "k1",
		"jwt-refresh-grace":            "10s",
		"jwt-secret":                   "",
		"listen":                       "127.0.0.1:8080",
		"log-level":                    "info",
		"login-failure-window":         "1h0m0s",
		"login-lockout-base":           "1s",
		"login-lockout-max":            "15m0s",
		"login-max-failures":           "5",
		"opaque-cache-size":            "100000",
		"opaque-cache-ttl":             "30s",
		"opaque-negative-ttl":          "0s",
		"opaque-pubsub":                "false",
		"opaque-ttl":                   "1h0m0s",
		"redis-url":                    "",
		"refresh-ttl":                  "24h0m0s",
		"secure-cookies":               "false",
		"session-idle-ttl":             "30m0s",
		"session-ttl":                  "1h0m0s",
		"sticky-max-sessions":          "1000000",
		"sticky-max-sessions-per-user": "16",
		"strategy":                     "jwt",
		"trusted-proxies":              "127.0.0.0/8,::1/128",
	}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	var f gatewayFlags
	f.register(fs)
	got := map[string]string{}
	fs.VisitAll(func(fl *flag.Flag) { got[fl.Name] = fl.DefValue })
	for name, def := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("--%s is gone", name)
		} else if g != def {
			t.Errorf("--%s default %q, want %q", name, g, def)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("new flag --%s: add it to this list", name)
		}
	}
}

// TestGatewayRedisStrategies runs `authlab gateway` with each strategy
// that needs Redis, strategy flags given as a script would: the gateway
// connects, is ready (its /readyz pings the strategy's store through the
// client it built), takes a login with its flags applied, and stops when
// ctx ends.
func TestGatewayRedisStrategies(t *testing.T) {
	srv := redistest.Start(t)
	dir, err := auth.NewDirectory(auth.Config{SeedUsers: 1, SeedPassword: "user-password", AdminPassword: "admin-password", BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	authSrv := httptest.NewServer(auth.NewHandler(dir, slog.New(slog.DiscardHandler)))
	defer authSrv.Close()
	for _, tc := range []struct {
		strategy string
		args     []string
		check    func(t *testing.T, resp *http.Response, body string)
	}{
		{"redis-session", []string{"--session-ttl", "2h", "--session-idle-ttl", "0"}, func(t *testing.T, resp *http.Response, _ string) {
			for _, c := range resp.Cookies() {
				if c.MaxAge > 7100 && c.MaxAge <= 7200 {
					return
				}
			}
			t.Errorf("no session cookie living --session-ttl 2h: %v", resp.Header["Set-Cookie"])
		}},
		{"jwt", []string{"--jwt-secret", strings.Repeat("s", 32), "--jwt-denylist", "--access-ttl", "90s"}, func(t *testing.T, _ *http.Response, body string) {
			// exp is whole seconds: the time left rounds to 89 or 90.
			if n := expiresIn(t, body); n < 85 || n > 90 {
				t.Errorf("--access-ttl 90s not applied: expires_in %d in %s", n, body)
			}
		}},
		{"opaque", []string{"--opaque-pubsub", "--opaque-ttl", "3m"}, func(t *testing.T, _ *http.Response, body string) {
			if n := expiresIn(t, body); n < 175 || n > 180 {
				t.Errorf("--opaque-ttl 3m not applied: expires_in %d in %s", n, body)
			}
		}},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			data, _ := netutil.FreeLoopbackAddr()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stderr lockedWriter
			done := make(chan error, 1)
			go func() {
				done <- runGateway(ctx, append([]string{"--strategy", tc.strategy, "--listen", data, "--admin-listen", "",
					"--redis-url", srv.URL(), "--auth-url", authSrv.URL}, tc.args...), io.Discard, &stderr)
			}()
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			defer wcancel()
			if err := netutil.WaitHTTP(wctx, "http://"+data+"/readyz"); err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			resp, err := http.Post("http://"+data+"/auth/login", "application/json", strings.NewReader(`{"username":"user0001","password":"user-password"}`))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("login: %d %s\n%s", resp.StatusCode, b, stderr.String())
			}
			tc.check(t, resp, string(b))
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("runGateway: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("runGateway did not return after ctx ended")
			}
		})
	}
}

// expiresIn returns the expires_in field of a login answer.
func expiresIn(t *testing.T, body string) int {
	t.Helper()
	var v struct {
		ExpiresIn int `json:"expires_in"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("login answer %q: %v", body, err)
	}
	return v.ExpiresIn
}
