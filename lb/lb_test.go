package lb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/netutil"
)

// harness is one running lb with the base URLs of its data and admin
// planes.
type harness struct {
	t         *testing.T
	lb        *LB
	base      string
	adminBase string
	stop      func() // cancel ctx, close, wait for Serve
}

// baseConfig is a fast-checking config over n fake child gateways.
func baseConfig(n int) Config {
	return Config{
		Instances:      n,
		Policy:         RoundRobin,
		AdminToken:     testAdminToken,
		CookieKey:      []byte("lb-test-cookie-key-0123456789"),
		HealthInterval: 50 * time.Millisecond,
		HealthTimeout:  400 * time.Millisecond,
		HealthFall:     2,
		HealthRise:     2,
		StopTimeout:    3 * time.Second,
		DrainTimeout:   20 * time.Second,
		Command:        fakeCommand,
	}
}

// passiveConfig is baseConfig without effective active checks, for tests
// whose assertions a health flap on a starved machine would upset.
func passiveConfig(n int) Config {
	c := baseConfig(n)
	c.HealthInterval = time.Hour
	return c
}

func startLB(t *testing.T, cfg Config) *harness {
	t.Helper()
	if os.Getenv(netHTTPServeEnv) == "1" {
		cfg.DisableFastServe = true
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := l.Start(ctx); err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	var lns [2]net.Listener
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			cancel()
			l.Close()
			t.Fatal(err)
		}
		lns[i] = ln
	}
	served := make(chan error, 2)
	go func() { served <- l.Serve(ctx, lns[0]) }()
	go func() { served <- l.ServeAdmin(ctx, lns[1]) }()
	h := &harness{t: t, lb: l, base: "http://" + lns[0].Addr().String(), adminBase: "http://" + lns[1].Addr().String()}
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			l.Close()
			for range lns {
				if err := <-served; err != nil {
					t.Errorf("Serve: %v", err)
				}
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64},
}

// get sends GET path through the lb with optional cookie.
func (h *harness) get(path string, cookies ...*http.Cookie) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, h.base+path, nil)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// admin calls the admin API (on the admin plane) with the given token
// ("" = none).
func (h *harness) adminToken(method, path, token string) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.adminBase+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func (h *harness) admin(method, path string) (int, []byte) {
	h.t.Helper()
	return h.adminToken(method, path, testAdminToken)
}

func (h *harness) mustAdmin(method, path string, want int) []byte {
	h.t.Helper()
	code, body := h.admin(method, path)
	if code != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, body)
	}
	return body
}

func (h *harness) instances() map[string]InstanceInfo {
	h.t.Helper()
	var list []InstanceInfo
	if err := json.Unmarshal(h.mustAdmin("GET", "/_lb/instances", 200), &list); err != nil {
		h.t.Fatal(err)
	}
	m := map[string]InstanceInfo{}
	for _, in := range list {
		m[in.ID] = in
	}
	return m
}

func (h *harness) events() []Event {
	h.t.Helper()
	var evs []Event
	if err := json.Unmarshal(h.mustAdmin("GET", "/_lb/events", 200), &evs); err != nil {
		h.t.Fatal(err)
	}
	return evs
}

// waitFor polls cond (typically the admin API) until it holds.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; instances: %+v", what, h.instances())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) waitState(id, state string) InstanceInfo {
	h.t.Helper()
	var got InstanceInfo
	h.waitFor(id+" "+state, func() bool {
		got = h.instances()[id]
		return got.State == state
	})
	return got
}

func findEvent(evs []Event, typ, id string, afterSeq uint64) (Event, bool) {
	for _, e := range evs {
		if e.Type == typ && e.Instance == id && e.Seq > afterSeq {
			return e, true
		}
	}
	return Event{}, false
}

func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestConfigValidate(t *testing.T) {
	ok := baseConfig(1)
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"no instances", func(c *Config) { c.Instances = 0 }, "no instance"},
		{"negative instances", func(c *Config) { c.Instances = -1 }, "< 0"},
		{"external only", func(c *Config) { c.Instances = 0; c.External = []External{{Addr: "127.0.0.1:1"}} }, ""},
		{"bad external", func(c *Config) { c.External = []External{{Addr: "nope"}} }, "external instance"},
		{"bad external admin", func(c *Config) {
			c.External = []External{{Addr: "127.0.0.1:1", AdminAddr: "nope"}}
			c.InstanceAdminToken = testInstanceToken
		}, "admin address"},
		{"external admin without instance token", func(c *Config) {
			c.External = []External{{Addr: "127.0.0.1:1", AdminAddr: "127.0.0.1:2"}}
		}, "instance admin token"},
		{"instance token is the admin token", func(c *Config) { c.InstanceAdminToken = c.AdminToken }, "must differ"},
		{"negative read header timeout", func(c *Config) { c.ReadHeaderTimeout = -time.Second }, "read header timeout"},
		{"negative max header bytes", func(c *Config) { c.MaxHeaderBytes = -1 }, "max header bytes"},
		{"negative max retry body", func(c *Config) { c.MaxRetryBody = -1 }, "max retry body"},
		{"no command", func(c *Config) { c.Command = nil }, "Command"},
		{"bad policy", func(c *Config) { c.Policy = "random" }, "unknown policy"},
		{"sticky short key", func(c *Config) { c.Policy = Sticky; c.CookieKey = []byte("short") }, "cookie key"},
		{"no admin token", func(c *Config) { c.AdminToken = "" }, "admin token"},
		{"negative interval", func(c *Config) { c.HealthInterval = -time.Second }, "health interval"},
		{"negative fall", func(c *Config) { c.HealthFall = -1 }, "fall"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			c.setDefaults()
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("New(Config{}) succeeded")
	}
}

func TestParseExternal(t *testing.T) {
	tests := []struct {
		in      string
		want    External
		wantErr bool
	}{
		{"127.0.0.1:8080", External{Addr: "127.0.0.1:8080"}, false},
		{"127.0.0.1:8080@127.0.0.1:8081", External{Addr: "127.0.0.1:8080", AdminAddr: "127.0.0.1:8081"}, false},
		{" gw.internal:80@gw.internal:81 ", External{Addr: "gw.internal:80", AdminAddr: "gw.internal:81"}, false},
		{"nope", External{}, true},
		{"127.0.0.1:8080@nope", External{}, true},
		{"@127.0.0.1:8081", External{}, true},
	}
	for _, tt := range tests {
		got, err := ParseExternal(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseExternal(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err == nil && got.String() != strings.TrimSpace(tt.in) {
			t.Errorf("String() = %q, want %q", got.String(), strings.TrimSpace(tt.in))
		}
	}
}

func TestRoundRobinAndInstanceHeader(t *testing.T) {
	h := startLB(t, passiveConfig(3))
	counts := map[string]int{}
	for range 30 {
		resp, _, err := h.get("/api/me")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		counts[resp.Header.Get(InstanceHeader)]++
	}
	for _, id := range []string{"gw1", "gw2", "gw3"} {
		if counts[id] != 10 {
			t.Errorf("%s served %d of 30, want 10 (all: %v)", id, counts[id], counts)
		}
	}
	insts := h.instances()
	for id, in := range insts {
		if in.State != StateUp || in.PID == 0 || in.Served != 10 {
			t.Errorf("%s: %+v, want up with a pid and served=10", id, in)
		}
	}
}

func TestLeastConnAvoidsBusyInstance(t *testing.T) {
	cfg := passiveConfig(2)
	cfg.Policy = LeastConn
	h := startLB(t, cfg)
	held := make(chan error, 1)
	go func() {
		resp, _, err := h.get("/hold?key=lc")
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		held <- err
	}()
	var busy InstanceInfo
	h.waitFor("a request in flight", func() bool {
		for _, in := range h.instances() {
			if in.InFlight == 1 {
				busy = in
				return true
			}
		}
		return false
	})
	for range 6 {
		resp, _, err := h.get("/x")
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get(InstanceHeader); got == busy.ID {
			t.Fatalf("least-conn sent a request to busy %s", got)
		}
	}
	if _, err := http.Get("http://" + busy.Address + "/release?key=lc"); err != nil {
		t.Fatal(err)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}

// loadResult is what one client of runLoad saw.
type loadResult struct {
	failures          int
	failuresAfterKill int // failures of requests started after the kill returned
	ok                int
}

// runLoad runs clients concurrent GET loops against path until stop is
// closed; killed is closed once the kill call returned.
func runLoad(h *harness, clients int, path string, stop, killed <-chan struct{}) []loadResult {
	res := make([]loadResult, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := false
				select {
				case <-killed:
					after = true
				default:
				}
				resp, _, err := h.get(path)
				if err != nil || resp.StatusCode != 200 {
					res[i].failures++
					if after {
						res[i].failuresAfterKill++
					}
					continue
				}
				res[i].ok++
			}
		}()
	}
	wg.Wait()
	return res
}

func TestSIGKILLUnderLoad(t *testing.T) {
	for _, retry := range []bool{true, false} {
		t.Run(fmt.Sprintf("retry=%v", retry), func(t *testing.T) {
			cfg := passiveConfig(3)
			cfg.Retry = retry
			h := startLB(t, cfg)

			// One GET is held in flight at the victim when it is killed.
			type heldResult struct {
				resp *http.Response
				body []byte
				err  error
			}
			held := make(chan heldResult, 1)
			go func() {
				resp, body, err := h.get("/hold?key=kill")
				held <- heldResult{resp, body, err}
			}()
			var victim InstanceInfo
			h.waitFor("the held request in flight", func() bool {
				for _, in := range h.instances() {
					if in.InFlight == 1 {
						victim = in
						return true
					}
				}
				return false
			})
			// Elsewhere the same key is already released, so a retried
			// request answers at once.
			for _, in := range h.instances() {
				if in.ID != victim.ID {
					if _, err := http.Get("http://" + in.Address + "/release?key=kill"); err != nil {
						t.Fatal(err)
					}
				}
			}

			stop, killed := make(chan struct{}), make(chan struct{})
			done := make(chan []loadResult)
			go func() { done <- runLoad(h, 8, "/slow?ms=2", stop, killed) }()
			h.waitFor("load reaching the victim", func() bool { return h.instances()[victim.ID].Served >= 20 })
			info := InstanceInfo{}
			if err := json.Unmarshal(h.mustAdmin("POST", "/_lb/instances/"+victim.ID+"/kill?mode=sigkill", 200), &info); err != nil {
				t.Fatal(err)
			}
			close(killed)
			if info.State != StateKilled {
				t.Errorf("state after kill = %q, want killed", info.State)
			}
			if !processGone(victim.PID) {
				t.Errorf("pid %d still exists after sigkill returned", victim.PID)
			}
			hr := <-held
			switch {
			case hr.err != nil:
				t.Fatalf("held request: %v", hr.err)
			case retry && (hr.resp.StatusCode != 200 || hr.resp.Header.Get(InstanceHeader) == victim.ID):
				t.Errorf("held GET with --retry: %d from %s: %s, want 200 from another instance",
					hr.resp.StatusCode, hr.resp.Header.Get(InstanceHeader), hr.body)
			case !retry && hr.resp.StatusCode != http.StatusBadGateway:
				t.Errorf("held GET without retry: %d %s, want 502", hr.resp.StatusCode, hr.body)
			}
			// Let the other instances serve a good number of requests after the kill.
			before := h.instances()
			h.waitFor("load after the kill", func() bool {
				now := h.instances()
				for id, in := range now {
					if id != victim.ID && in.Served < before[id].Served+50 {
						return false
					}
				}
				return true
			})
			close(stop)
			res := <-done
			total, failed := 0, 0
			for i, r := range res {
				total += r.ok
				failed += r.failures
				if retry && r.failures > 0 {
					t.Errorf("client %d: %d failed GETs with --retry, want 0", i, r.failures)
				}
				if !retry && r.failures > 1 {
					t.Errorf("client %d: %d failures without retry, want at most 1", i, r.failures)
				}
				if r.failuresAfterKill > 0 {
					t.Errorf("client %d: %d failures on requests sent after the kill", i, r.failuresAfterKill)
				}
			}
			if retry && h.lb.retries.Load() == 0 {
				t.Error("no request was retried")
			}
			if got := h.instances()[victim.ID]; got.State != StateKilled || got.PID != 0 {
				t.Errorf("victim after load: %+v", got)
			}
			t.Logf("retry=%v: %d requests ok, %d failed, %d retried", retry, total, failed, h.lb.retries.Load())
		})
	}
}

func TestStickyRepinsAtOnce(t *testing.T) {
	cfg := passiveConfig(3)
	cfg.Policy = Sticky
	h := startLB(t, cfg)

	resp, _, err := h.get("/api/me")
	if err != nil {
		t.Fatal(err)
	}
	pinned := resp.Header.Get(InstanceHeader)
	cookie := pinCookie(resp)
	if cookie == nil {
		t.Fatal("first response set no authlab_lb cookie")
	}
	if strings.Contains(cookie.Value, pinned) || cookie.Value == "" {
		t.Fatalf("cookie %q exposes the instance id %q", cookie.Value, pinned)
	}
	for range 5 {
		resp, _, err := h.get("/api/me", cookie)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get(InstanceHeader); got != pinned {
			t.Fatalf("pinned client served by %s, want %s", got, pinned)
		}
		if pinCookie(resp) != nil {
			t.Fatal("pinned request got a new cookie")
		}
	}
	// A forged cookie (the bare id) is no pin: the client gets a real one.
	resp, _, err = h.get("/api/me", &http.Cookie{Name: CookieName, Value: pinned})
	if err != nil {
		t.Fatal(err)
	}
	if pinCookie(resp) == nil {
		t.Fatal("forged cookie was accepted as a pin")
	}

	h.mustAdmin("POST", "/_lb/instances/"+pinned+"/kill?mode=sigkill", 200)
	resp, _, err = h.get("/api/me", cookie)
	if err != nil {
		t.Fatal(err)
	}
	repinned := resp.Header.Get(InstanceHeader)
	if resp.StatusCode != 200 || repinned == pinned || repinned == "" {
		t.Fatalf("after kill: status %d from %q, want 200 from another instance", resp.StatusCode, repinned)
	}
	newCookie := pinCookie(resp)
	if newCookie == nil || newCookie.Value == cookie.Value {
		t.Fatalf("re-pin did not rewrite the cookie: %v", newCookie)
	}
	for range 5 {
		resp, _, err := h.get("/api/me", newCookie)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get(InstanceHeader); got != repinned {
			t.Fatalf("re-pinned client served by %s, want %s", got, repinned)
		}
	}
}

func pinCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	return nil
}

func TestReviveRejoinsAfterRise(t *testing.T) {
	cfg := baseConfig(2)
	cfg.HealthRise = 3
	h := startLB(t, cfg)
	old := h.instances()["gw1"]
	h.mustAdmin("POST", "/_lb/instances/gw1/kill", 200) // mode defaults to sigkill
	var info InstanceInfo
	if err := json.Unmarshal(h.mustAdmin("POST", "/_lb/instances/gw1/revive", 200), &info); err != nil {
		t.Fatal(err)
	}
	if info.Address != old.Address || info.PID == 0 || info.PID == old.PID {
		t.Fatalf("revived %+v, want a fresh pid on %s (old pid %d)", info, old.Address, old.PID)
	}
	h.waitState("gw1", StateUp)
	evs := h.events()
	rev, ok := findEvent(evs, EventRevive, "gw1", 0)
	if !ok {
		t.Fatalf("no revive event in %+v", evs)
	}
	up, ok := findEvent(evs, EventUp, "gw1", rev.Seq)
	if !ok {
		t.Fatalf("no up event after the revive in %+v", evs)
	}
	// Three successful checks are at least two intervals apart.
	if gap := time.Duration(up.MonoNS - rev.MonoNS); gap < 2*cfg.HealthInterval {
		t.Errorf("up %v after revive, want ≥ %v (rise=3)", gap, 2*cfg.HealthInterval)
	}
	if up.Wall.Before(rev.Wall) || rev.MonoNS <= 0 {
		t.Errorf("event stamps out of order: revive %+v, up %+v", rev, up)
	}
	seen := false
	for range 4 {
		resp, _, err := h.get("/x")
		if err != nil {
			t.Fatal(err)
		}
		seen = seen || resp.Header.Get(InstanceHeader) == "gw1"
	}
	if !seen {
		t.Error("revived gw1 got no request in 4 round-robin requests")
	}
	// Reviving a live instance is a conflict.
	if code, body := h.admin("POST", "/_lb/instances/gw1/revive"); code != http.StatusConflict {
		t.Errorf("revive live: %d %s, want 409", code, body)
	}
}

func TestFreezeDetectedByTimeout(t *testing.T) {
	cfg := baseConfig(2)
	cfg.HealthTimeout = 300 * time.Millisecond
	h := startLB(t, cfg)
	frozenInfo := InstanceInfo{}
	if err := json.Unmarshal(h.mustAdmin("POST", "/_lb/instances/gw1/kill?mode=freeze", 200), &frozenInfo); err != nil {
		t.Fatal(err)
	}
	if frozenInfo.State != StateFrozen || processGone(frozenInfo.PID) {
		t.Fatalf("after freeze: %+v, want frozen and the process alive", frozenInfo)
	}
	h.waitFor("gw1 detected down", func() bool { return !h.instances()["gw1"].Healthy })
	down, ok := findEvent(h.events(), EventDown, "gw1", 0)
	if !ok || !strings.Contains(down.Reason, "health check") {
		t.Fatalf("down event %+v, want one from the health check", down)
	}
	for range 4 {
		// A request reaching frozen gw1 would hang; on a starved machine
		// gw2 may flap down too, and then the answer is a 503.
		resp, _, err := h.get("/x")
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get(InstanceHeader); got == "gw1" || (got != "gw2" && resp.StatusCode != 503) {
			t.Fatalf("request after the freeze was detected: %d from %q", resp.StatusCode, got)
		}
	}
	h.mustAdmin("POST", "/_lb/instances/gw1/revive", 200)
	got := h.waitState("gw1", StateUp)
	if got.PID != frozenInfo.PID {
		t.Errorf("SIGCONT revive changed the pid: %d → %d", frozenInfo.PID, got.PID)
	}
}

func TestDrainLetsInFlightFinish(t *testing.T) {
	h := startLB(t, passiveConfig(2))
	held := make(chan *http.Response, 1)
	go func() {
		resp, _, err := h.get("/hold?key=drain")
		if err != nil {
			t.Error(err)
		}
		held <- resp
	}()
	var busy InstanceInfo
	h.waitFor("the held request in flight", func() bool {
		for _, in := range h.instances() {
			if in.InFlight == 1 {
				busy = in
				return true
			}
		}
		return false
	})
	h.mustAdmin("POST", "/_lb/instances/"+busy.ID+"/kill?mode=drain", http.StatusAccepted)
	if got := h.instances()[busy.ID]; got.State != StateDraining {
		t.Fatalf("state %q during drain, want draining", got.State)
	}
	for range 4 {
		resp, _, err := h.get("/x")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get(InstanceHeader) == busy.ID {
			t.Fatal("draining instance got a new request")
		}
	}
	if code, _ := h.admin("POST", "/_lb/instances/"+busy.ID+"/revive"); code != http.StatusConflict {
		t.Errorf("revive while draining: %d, want 409", code)
	}
	if _, err := http.Get("http://" + busy.Address + "/release?key=drain"); err != nil {
		t.Fatal(err)
	}
	resp := <-held
	if resp == nil || resp.StatusCode != 200 || resp.Header.Get(InstanceHeader) != busy.ID {
		t.Fatalf("held request: %+v, want 200 from %s", resp, busy.ID)
	}
	h.waitState(busy.ID, StateKilled)
	if _, ok := findEvent(h.events(), EventDrained, busy.ID, 0); !ok {
		t.Error("no drained event")
	}
	if !processGone(busy.PID) {
		t.Errorf("drained pid %d still exists", busy.PID)
	}
}

func TestNoHealthyInstanceIs503(t *testing.T) {
	h := startLB(t, baseConfig(1))
	h.mustAdmin("POST", "/_lb/instances/gw1/kill?mode=sigkill", 200)
	resp, body, err := h.get("/api/me")
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error, Message string }
	if resp.StatusCode != 503 || json.Unmarshal(body, &e) != nil || e.Error != "unavailable" {
		t.Fatalf("got %d %s, want 503 JSON unavailable", resp.StatusCode, body)
	}
}

func TestAdminAPIErrors(t *testing.T) {
	h := startLB(t, passiveConfig(2))
	h.mustAdmin("POST", "/_lb/instances/gw2/kill?mode=sigkill", 200)
	tests := []struct {
		name, method, path, token string
		want                      int
	}{
		{"no token", "GET", "/_lb/instances", "", 401},
		{"wrong token", "GET", "/_lb/instances", "wrong", 401},
		{"no token on kill", "POST", "/_lb/instances/gw1/kill", "", 401},
		{"bad id", "POST", "/_lb/instances/gw9/kill?mode=sigkill", testAdminToken, 404},
		{"bad id revive", "POST", "/_lb/instances/nope/revive", testAdminToken, 404},
		{"bad id get", "GET", "/_lb/instances/nope", testAdminToken, 404},
		{"bad mode", "POST", "/_lb/instances/gw1/kill?mode=nuke", testAdminToken, 400},
		{"revive live", "POST", "/_lb/instances/gw1/revive", testAdminToken, 409},
		{"kill killed", "POST", "/_lb/instances/gw2/kill?mode=drain", testAdminToken, 409},
		{"wrong method", "GET", "/_lb/instances/gw1/kill", testAdminToken, 405},
		{"wrong method list", "DELETE", "/_lb/instances", testAdminToken, 405},
		{"unknown endpoint", "GET", "/_lb/nothing", testAdminToken, 404},
		{"too deep", "POST", "/_lb/instances/gw1/kill/now", testAdminToken, 404},
		{"bad since", "GET", "/_lb/events?since=abc", testAdminToken, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := h.adminToken(tt.method, tt.path, tt.token)
			if code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, body)
			}
			var e struct{ Error, Message string }
			if err := json.Unmarshal(body, &e); err != nil || e.Error == "" || e.Message == "" {
				t.Fatalf("body %q is not the JSON error shape", body)
			}
		})
	}
	// The failed operations changed nothing.
	if got := h.instances()["gw1"]; got.State != StateUp {
		t.Errorf("gw1 %+v after rejected operations, want up", got)
	}
}

// startExternals starts n fake gateways ext-a, ext-b, … the lb does not
// own, each with an admin address when withAdmin, and returns them and
// channels closed when each has exited.
func startExternals(t *testing.T, n int, withAdmin bool) ([]External, []<-chan struct{}) {
	t.Helper()
	exts := make([]External, n)
	procs := make([]<-chan struct{}, n)
	for i := range exts {
		for _, a := range []*string{&exts[i].Addr, &exts[i].AdminAddr} {
			if a == &exts[i].AdminAddr && !withAdmin {
				continue
			}
			v, err := netutil.FreeLoopbackAddr()
			if err != nil {
				t.Fatal(err)
			}
			*a = v
		}
		_, procs[i] = startFakeExternal(t, exts[i].Addr, exts[i].AdminAddr, fmt.Sprintf("ext-%c", 'a'+i))
	}
	return exts, procs
}

func TestExternalInstancePassiveDetectionAndRetry(t *testing.T) {
	exts, procs := startExternals(t, 2, true)
	cfg := baseConfig(0)
	cfg.External = exts
	cfg.InstanceAdminToken = testInstanceToken
	cfg.Retry = true
	cfg.HealthInterval = time.Hour // only passive detection can notice
	h := startLB(t, cfg)
	insts := h.instances()
	if _, ok := insts["ext-a"]; !ok {
		t.Fatalf("external ids not taken from /healthz: %+v", insts)
	}
	if got := insts["ext-a"]; got.Address != exts[0].Addr || got.AdminAddress != exts[0].AdminAddr {
		t.Fatalf("ext-a listed as %+v, want address %s and admin address %s", got, exts[0].Addr, exts[0].AdminAddr)
	}
	// Kill ext-a behind the lb's back, through its own admin endpoint.
	req, _ := http.NewRequest("POST", "http://"+exts[0].AdminAddr+"/_admin/exit", nil)
	req.Header.Set("Authorization", "Bearer "+testInstanceToken)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
	<-procs[0]
	// A POST with a body is retried on ext-b (dial refused: never sent).
	for range 4 {
		resp, err := client.Post(h.base+"/orders", "application/json", bytes.NewReader([]byte(`{"n":12345}`)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"body_len":11`) || resp.Header.Get(InstanceHeader) != "ext-b" {
			t.Fatalf("POST after the kill: %d %s from %s", resp.StatusCode, body, resp.Header.Get(InstanceHeader))
		}
	}
	got := h.instances()["ext-a"]
	if got.State != StateDown {
		t.Fatalf("ext-a %+v, want down by passive detection", got)
	}
	down, ok := findEvent(h.events(), EventDown, "ext-a", 0)
	if !ok || !strings.HasPrefix(down.Reason, "passive") {
		t.Fatalf("down event %+v, want a passive one", down)
	}
	// Freeze needs a child; kill goes through /_admin/exit on the admin
	// address, with the instance token (the fake refuses any other).
	if code, _ := h.admin("POST", "/_lb/instances/ext-b/kill?mode=freeze"); code != 400 {
		t.Errorf("freeze external: %d, want 400", code)
	}
	h.mustAdmin("POST", "/_lb/instances/ext-b/kill?mode=sigkill", 200)
	select {
	case <-procs[1]:
	case <-time.After(20 * time.Second):
		t.Fatal("ext-b still runs after kill: POST /_admin/exit did not reach its admin address")
	}
}

func TestMetrics(t *testing.T) {
	h := startLB(t, passiveConfig(2))
	for range 4 {
		if _, _, err := h.get("/x"); err != nil {
			t.Fatal(err)
		}
	}
	h.mustAdmin("POST", "/_lb/instances/gw2/kill?mode=sigkill", 200)
	_, body := h.adminToken("GET", "/metrics", "")
	for _, want := range []string{
		`authlab_lb_requests_total{code="200",instance="gw1"} 2`,
		`authlab_lb_instance_state{instance="gw2",state="killed"} 1`,
		`authlab_lb_instance_state{instance="gw1",state="up"} 1`,
		`authlab_lb_instance_routable{instance="gw2"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestNoOrphansAfterStop(t *testing.T) {
	h := startLB(t, baseConfig(3))
	h.mustAdmin("POST", "/_lb/instances/gw3/kill?mode=freeze", 200)
	var pids []int
	for _, in := range h.instances() {
		if in.PID == 0 {
			t.Fatalf("%s has no pid", in.ID)
		}
		pids = append(pids, in.PID)
	}
	h.stop()
	for _, pid := range pids {
		if !processGone(pid) {
			t.Errorf("child %d survived the lb", pid)
		}
	}
}

// TestNoOrphansWhenLBProcessDies runs the lb in a separate process and ends
// it with SIGTERM (it stops its children) and with SIGKILL (the kernel's
// parent-death signal kills them).
func TestNoOrphansWhenLBProcessDies(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), lbProcEnv+"=1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var pids []int
			if err := json.NewDecoder(out).Decode(&pids); err != nil || len(pids) != 2 {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("child pids: %v %v", pids, err)
			}
			for _, pid := range pids {
				if processGone(pid) {
					t.Fatalf("child %d not running before the signal", pid)
				}
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			deadline := time.Now().Add(10 * time.Second)
			for _, pid := range pids {
				for !deadOrZombie(pid) {
					if time.Now().After(deadline) {
						t.Fatalf("child %d survived the lb's %v", pid, sig)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}

// deadOrZombie reports whether pid no longer runs (a zombie waits only for
// its new parent to reap it).
func deadOrZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// Format: pid (comm) state ...; comm may contain spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// TestChildCrashIsDetectedAndRevivable: a child that dies on its own (not
// through the admin API) is marked down at once and can be revived.
func TestChildCrashIsDetectedAndRevivable(t *testing.T) {
	cfg := baseConfig(2)
	h := startLB(t, cfg)
	gw1 := h.instances()["gw1"]
	if err := syscall.Kill(gw1.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	got := h.waitState("gw1", StateDown)
	if got.PID != 0 {
		t.Errorf("crashed gw1 still reports pid %d", got.PID)
	}
	evs := h.events()
	if _, ok := findEvent(evs, EventExit, "gw1", 0); !ok {
		t.Errorf("no exit event in %+v", evs)
	}
	for range 4 {
		resp, _, err := h.get("/x")
		if err != nil || resp.StatusCode != 200 || resp.Header.Get(InstanceHeader) != "gw2" {
			t.Fatalf("request after the crash: %v %v", err, resp)
		}
	}
	h.mustAdmin("POST", "/_lb/instances/gw1/revive", 200)
	h.waitState("gw1", StateUp)
}
