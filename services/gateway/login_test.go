package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLoginThrottledPerAccount: 30 wrong passwords for one account get 429
// with Retry-After after the fifth, while another account logs in at once;
// a locked account answers 429 even to the right password, without it
// being checked; the lock ends when its time is up and grows when guessing
// goes on; a success resets the account.
func TestLoginThrottledPerAccount(t *testing.T) {
	f := newFixture(t)
	pw := f.g.cfg.Passwords.(*fakePasswords)
	wrong := `{"username":"victim","password":"guess"}`
	// Another account logs in meanwhile (plain requests: t.Fatal belongs
	// to the test's goroutine).
	var (
		wg        sync.WaitGroup
		bystander []int
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 5 {
			code := 0
			if resp, err := http.Post(f.gw.URL+"/auth/login", "application/json", strings.NewReader(`{"username":"bystander","password":"pw"}`)); err == nil {
				code = resp.StatusCode
				resp.Body.Close()
			}
			bystander = append(bystander, code)
		}
	}()
	statuses := map[int]int{}
	var retryAfter string
	for range 30 {
		resp, m := f.do(t, "POST", "/auth/login", wrong, nil)
		statuses[resp.StatusCode]++
		if resp.StatusCode == 429 {
			retryAfter = resp.Header.Get("Retry-After")
			if m["error"] != codeTooManyRequests || m["message"] == nil {
				t.Errorf("429 body = %v", m)
			}
		}
	}
	wg.Wait()
	for i, code := range bystander {
		if code != 200 {
			t.Fatalf("another account's login %d during the attack: %d, want 200", i, code)
		}
	}
	if statuses[401] != 5 || statuses[429] != 25 {
		t.Fatalf("30 wrong passwords: %v, want 5×401 then 25×429", statuses)
	}
	if secs, err := strconv.Atoi(retryAfter); err != nil || secs != 1 {
		t.Fatalf("Retry-After = %q, want 1 (the first lockout, default 1s)", retryAfter)
	}
	checked := pw.checked.Load()
	if resp, _ := f.do(t, "POST", "/auth/login", `{"username":"VICTIM","password":"pw"}`, nil); resp.StatusCode != 429 {
		t.Fatalf("right password on a locked account: %d, want 429 (no oracle)", resp.StatusCode)
	}
	if got := pw.checked.Load(); got != checked {
		t.Fatal("the password of a locked account was checked")
	}

	// The lock ends; one more wrong guess doubles it.
	f.clock.Add(time.Second)
	if resp, _ := f.do(t, "POST", "/auth/login", wrong, nil); resp.StatusCode != 401 {
		t.Fatalf("after the lockout: %d, want 401", resp.StatusCode)
	}
	resp, _ := f.do(t, "POST", "/auth/login", wrong, nil)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("second lockout: %d Retry-After %q, want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// A success resets the account: four wrong guesses are answered 401 again.
	f.clock.Add(2 * time.Second)
	if resp, m := f.do(t, "POST", "/auth/login", `{"username":"victim","password":"pw"}`, nil); resp.StatusCode != 200 {
		t.Fatalf("right password after the lockout: %d %v", resp.StatusCode, m)
	}
	for i := range 4 {
		if resp, _ := f.do(t, "POST", "/auth/login", wrong, nil); resp.StatusCode != 401 {
			t.Fatalf("wrong guess %d after a success: %d, want 401", i+1, resp.StatusCode)
		}
	}
	page := f.scrape(t)
	if n := metricValue(t, page, "authlab_gateway_logins_total", `outcome="throttled"`); n != 27 {
		t.Fatalf("throttled logins metric = %v, want 27", n)
	}
}

type failingLimiter struct{}

func (failingLimiter) Attempt(context.Context, string) (time.Duration, error) {
	return 0, errors.New("redis: connection refused")
}
func (failingLimiter) Reset(context.Context, string) error {
	return errors.New("redis: connection refused")
}

// TestLoginLimiterFailsOpen: a limiter that cannot answer does not lock
// everyone out; it is logged and counted.
func TestLoginLimiterFailsOpen(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.LoginLimiter = failingLimiter{} })
	if resp, m := f.do(t, "POST", "/auth/login", `{"username":"bob","password":"pw"}`, nil); resp.StatusCode != 200 {
		t.Fatalf("login with the limiter down: %d %v, want 200", resp.StatusCode, m)
	}
	if n := metricValue(t, f.scrape(t), "authlab_gateway_login_limiter_errors_total"); n != 2 {
		t.Fatalf("limiter errors = %v, want 2 (attempt and reset)", n)
	}
	warned := false
	for _, l := range f.logs.lines(t) {
		if l["level"] == "WARN" && l["msg"] == "login limiter unavailable; letting the attempt through" {
			warned = true
		}
	}
	if !warned {
		t.Fatalf("no warning logged:\n%s", f.logs.String())
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{
		time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 15 * time.Minute: 900,
	} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}
