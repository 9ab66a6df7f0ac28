package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/authlab/authlab/bench/load"
)

// Redis-outage chapter settings: a short opaque cache TTL so the chapter
// takes seconds, the polling interval, and how long a strategy that keeps
// serving is watched.
const (
	// DemoOpaqueCacheTTL is the --opaque-cache-ttl the chapter starts
	// opaque with (the default is 30 s).
	DemoOpaqueCacheTTL = 3 * time.Second
	outagePoll         = 100 * time.Millisecond
	// OutageWindow is how long each strategy is watched after Redis
	// stops: well past the opaque cache TTL.
	OutageWindow = 2 * DemoOpaqueCacheTTL
)

// OutageOutcome is what one strategy did for a logged-in user while Redis
// was down.
type OutageOutcome struct {
	Strategy string
	// CacheTTL is the opaque cache TTL the gateways ran with (0 for the
	// others).
	CacheTTL time.Duration
	// WarmedBefore is how long before the stop the user logged in (opaque:
	// the login caches the token, so no cache entry is older).
	WarmedBefore time.Duration
	// Requests and OK count GET /api/me after the stop.
	Requests, OK int
	// Failed is whether an answer after the stop was not 200; then
	// FailedAfter is when it was sent (since the stop), FailStatus its
	// status. Otherwise the strategy served for all of Watched.
	Failed      bool
	FailedAfter time.Duration
	FailStatus  int
	Watched     time.Duration
	// LoginStatus is a fresh login's status while Redis was down;
	// RefreshStatus a refresh's (0: the strategy has no refresh tokens).
	LoginStatus, RefreshStatus int
}

// RunRedisOutage is the Redis-outage chapter: for each strategy, a
// topology with its own Redis; the user logs in and is served, Redis is
// killed, and GET /api/me is polled until the first failure or for
// OutageWindow; then a login (and a refresh) is tried. Everything it
// narrates was observed.
func RunRedisOutage(ctx context.Context, cfg Config) ([]OutageOutcome, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Out, "\n== Redis goes down ==\n")
	if cfg.RedisURL != "" {
		fmt.Fprintf(cfg.Out, "   skipped: Redis is external (%s); the demo does not stop a Redis it did not start\n", cfg.RedisURL)
		return nil, nil
	}
	fmt.Fprintf(cfg.Out, "   Each strategy gets its own Redis; the user logs in, Redis is killed (SIGKILL), and GET /api/me is sent every %s for up to %s or until the first failure.\n",
		outagePoll, OutageWindow)
	var outs []OutageOutcome
	for i, s := range cfg.Strategies {
		fmt.Fprintf(cfg.Out, "\n-- %d/%d: %s, Redis down --\n", i+1, len(cfg.Strategies), s)
		o, err := outageWalk(ctx, cfg, s)
		if err != nil {
			return outs, fmt.Errorf("demo redis outage %s: %w", s, err)
		}
		outs = append(outs, o)
	}
	summarizeOutage(cfg.Out, outs)
	return outs, nil
}

// outageWalk is one strategy's part of the chapter.
func outageWalk(ctx context.Context, cfg Config, strategy string) (OutageOutcome, error) {
	o := OutageOutcome{Strategy: strategy}
	var args []string
	if strategy == "opaque" {
		o.CacheTTL = DemoOpaqueCacheTTL
		args = []string{"--opaque-cache-ttl", DemoOpaqueCacheTTL.String()}
	}
	w, err := start(ctx, cfg, strategy, args...)
	if err != nil {
		return o, err
	}
	defer w.topo.Close()
	if w.topo.Redis == nil {
		return o, fmt.Errorf("the topology's Redis is not the demo's to stop")
	}
	if o.CacheTTL > 0 {
		fmt.Fprintf(cfg.Out, "   the gateways run with --opaque-cache-ttl %s: each caches a token it has looked up in Redis for that long\n", o.CacheTTL)
	}
	loginAt := time.Now()
	cred, err := w.logInCred(ctx)
	if err != nil {
		return o, err
	}
	// One request per gateway (round robin; sticky pins all to one), so
	// each has served the user (opaque: has the token cached) before the
	// stop.
	var served []string
	for range cfg.Instances {
		code, inst, _, err := w.me(ctx)
		if err != nil || code != http.StatusOK {
			return o, fmt.Errorf("GET /api/me before the stop: %d %v", code, err)
		}
		if !slices.Contains(served, inst) {
			served = append(served, inst)
		}
	}
	fmt.Fprintf(cfg.Out, "-> %d× GET /api/me → 200, served by %s\n", cfg.Instances, strings.Join(served, ", "))
	// No pause from the login to the stop: opaque's cache entries age
	// from the login on, and a pause would spend their TTL before Redis
	// goes.
	fmt.Fprintf(cfg.Out, "-> killing Redis at %s (SIGKILL: connections refused from now on)\n", w.topo.RedisURL)
	if err := w.topo.Redis.Stop(); err != nil {
		return o, fmt.Errorf("stop redis: %w", err)
	}
	stopped := time.Now()
	o.WarmedBefore = stopped.Sub(loginAt)
	if err := w.pollOutage(ctx, stopped, &o); err != nil {
		return o, err
	}
	o.LoginStatus, err = w.loginStatus(ctx)
	if err != nil {
		return o, err
	}
	if cred.Refresh != "" {
		if o.RefreshStatus, err = w.refreshStatus(ctx, cred.Refresh); err != nil {
			return o, err
		}
	}
	narrateOutage(cfg.Out, o)
	w.pause(ctx)
	return o, nil
}

// pollOutage sends GET /api/me every outagePoll from stopped until the
// first answer that is not 200, or for OutageWindow.
func (w *walk) pollOutage(ctx context.Context, stopped time.Time, o *OutageOutcome) error {
	tick := time.NewTicker(outagePoll)
	defer tick.Stop()
	for {
		sent := time.Since(stopped)
		if sent > OutageWindow {
			o.Watched = sent
			return nil
		}
		code, _, _, err := w.me(ctx)
		if err != nil {
			return fmt.Errorf("GET /api/me with Redis down: %w", err)
		}
		o.Requests++
		if code != http.StatusOK {
			o.Failed, o.FailedAfter, o.FailStatus, o.Watched = true, sent, code, sent
			return nil
		}
		o.OK++
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// narrateOutage says what was observed and why.
func narrateOutage(out io.Writer, o OutageOutcome) {
	if o.Failed {
		fmt.Fprintf(out, "-> GET /api/me: %d× 200, then %d for the request sent %s after the stop\n", o.OK, o.FailStatus, since(o.FailedAfter))
	} else {
		fmt.Fprintf(out, "-> GET /api/me: %d× 200, still serving %s after the stop\n", o.OK, since(o.Watched))
	}
	fmt.Fprintf(out, "-> a new login: POST /auth/login → %d", o.LoginStatus)
	if o.RefreshStatus != 0 {
		fmt.Fprintf(out, "; a refresh: POST /auth/refresh → %d", o.RefreshStatus)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "   why: %s\n", outageWhy(o))
}

// outageWhy explains an outcome from what was observed.
func outageWhy(o OutageOutcome) string {
	switch {
	case o.Failed && o.CacheTTL > 0:
		lived := o.FailedAfter + o.WarmedBefore
		return fmt.Sprintf("each %s gateway cached the token (at the login or its first lookup) for %s, and answered from its cache while Redis was gone; the first entry was cached at most %s before the stop, the first cache ran dry %s after it, and its next lookup needed Redis: %d. Served for %s from the login, against a cache TTL of %s; the other gateways' entries run out moments later.",
			o.Strategy, o.CacheTTL, since(o.WarmedBefore), since(o.FailedAfter), o.FailStatus, since(lived), o.CacheTTL)
	case o.Failed:
		return fmt.Sprintf("%s looks every request's credential up in Redis: without Redis it cannot tell who the user is, and answers %d from the first request after the stop on (%s after it). 503 means: the store is down, retry later — not: you are logged out.",
			o.Strategy, o.FailStatus, since(o.FailedAfter))
	case o.LoginStatus != http.StatusOK:
		return fmt.Sprintf("%s checks the credential without Redis, so the logged-in user is served as long as the credential is valid; what needs Redis fails: a new login (%d)%s.",
			o.Strategy, o.LoginStatus, refreshText(o.RefreshStatus))
	default:
		return fmt.Sprintf("%s keeps its sessions in the gateway's memory: Redis is not on its path, logins included (%d).", o.Strategy, o.LoginStatus)
	}
}

// since formats an observed duration: milliseconds below a second.
func since(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func refreshText(code int) string {
	if code == 0 {
		return ""
	}
	return fmt.Sprintf(" and a refresh (%d), so the user is out once the access token expires", code)
}

// summarizeOutage prints one line per strategy.
func summarizeOutage(w io.Writer, outs []OutageOutcome) {
	fmt.Fprintf(w, "\n== Redis down, in short ==\n")
	for _, o := range outs {
		served := fmt.Sprintf("served the logged-in user for the whole %s watched", since(o.Watched))
		if o.Failed {
			served = fmt.Sprintf("served the logged-in user for %s, then %d", since(o.FailedAfter), o.FailStatus)
			if o.CacheTTL > 0 {
				served += fmt.Sprintf(" (cache TTL %s)", o.CacheTTL)
			}
		}
		fmt.Fprintf(w, "  %-14s %s; new login %d\n", o.Strategy, served, o.LoginStatus)
	}
	fmt.Fprintf(w, "\nMeasure it under load: authlab bench --strategy <name> --scenario redis-outage\n")
}

// logInCred logs the demo user in (narrated) and returns its credential.
func (w *walk) logInCred(ctx context.Context) (load.Credential, error) {
	user := load.UserName(0)
	cred, err := load.Login(ctx, w.client, w.topo.LBURL, user, w.topo.Password, nil)
	if err != nil {
		return cred, err
	}
	w.token = cred.Bearer
	fmt.Fprintf(w.cfg.Out, "-> %s logs in: POST /auth/login → 200, handled by %s\n", user, cred.Instance)
	return cred, nil
}

// loginStatus tries a fresh login (another user, with a client of its
// own) and returns its status.
func (w *walk) loginStatus(ctx context.Context) (int, error) {
	body, _ := json.Marshal(map[string]string{"username": load.UserName(1), "password": w.topo.Password})
	return w.postJSON(ctx, "/auth/login", body)
}

// refreshStatus tries to exchange the refresh token and returns the status.
func (w *walk) refreshStatus(ctx context.Context, refresh string) (int, error) {
	body, _ := json.Marshal(map[string]string{"refresh_token": refresh})
	return w.postJSON(ctx, "/auth/refresh", body)
}

func (w *walk) postJSON(ctx context.Context, path string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.topo.LBURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}
