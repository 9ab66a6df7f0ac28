package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/report"
)

// RedisFailoverName names the Redis master failover scenario.
const RedisFailoverName = "redis-failover"

// ReplicatedRedis is a replicated Redis the harness started (a local Redis
// Cluster or Sentinel group, topology.ReplicatedRedis): it kills the master
// holding a key, waits for a replica to be promoted, and starts the killed
// node again (as a replica).
type ReplicatedRedis interface {
	KillMaster(ctx context.Context, key string) (string, error)
	WaitNewMaster(ctx context.Context, key, old string) (string, error)
	Restart(ctx context.Context, addr string) error
}

// masterKey picks the master to kill in a cluster: the one serving this
// key's slot (a third of the slots, so about a third of the credentials,
// with 3 masters). A Sentinel group has one master and ignores it.
const masterKey = "authlab"

// minRedisFailoverPhase is the shortest phase in which a replica can be
// promoted (5 s of failure detection, then the election) before the
// killed node is restarted at 2/3.
const minRedisFailoverPhase = 24 * time.Second

// RedisFailover SIGKILLs the Redis master under load at 1/3 of a phase,
// right after a burst of logins and logouts (the writes most at risk),
// lets the deployment promote a replica, and starts the killed node again
// (it rejoins as a replica) at 2/3. Once the new master serves it checks
// every credential issued before the kill: what asynchronous replication
// had not carried over is lost — sessions gone, logouts undone. It is
// skipped unless the run has a replicated Redis (--redis cluster|sentinel).
type RedisFailover struct{}

// Name implements Scenario.
func (RedisFailover) Name() string { return RedisFailoverName }

// Run implements Scenario.
func (RedisFailover) Run(ctx context.Context, env *Env) (report.Scenario, error) {
	cfg := env.Config
	switch {
	case env.Replicated == nil:
		return report.Scenario{Skipped: true, SkipReason: "needs a replicated Redis the harness started: run with --redis cluster or --redis sentinel"}, nil
	case cfg.Users < 2:
		return report.Scenario{Skipped: true, SkipReason: "needs at least 2 users (one logs in again, one logs out right before the kill)"}, nil
	case !catalog.HasCredential(cfg.Strategy):
		return report.Scenario{Skipped: true, SkipReason: fmt.Sprintf("the %s strategy keeps nothing in Redis", cfg.Strategy)}, nil
	}
	if cfg.Duration < minRedisFailoverPhase {
		return report.Scenario{}, fmt.Errorf("redis-failover: --duration %s is too short: the master is killed at 1/3 and failure detection alone takes seconds; want at least %s", cfg.Duration, minRedisFailoverPhase)
	}
	k := max(1, min(cfg.RevocationSample, cfg.Users/4)) // 2k ≤ Users
	f := &failoverRun{env: env, burst: k, revoke: k, promoted: make(chan struct{})}
	dur := cfg.Duration
	inject := load.Hook{At: dur / 3, Type: "redis-master-kill", Do: func(hctx context.Context) (string, error) {
		return f.kill(ctx, hctx)
	}}
	heal := load.Hook{At: 2 * dur / 3, Type: "redis-node-restart", Do: func(hctx context.Context) (string, error) {
		return f.restart(hctx)
	}}
	s, pr, err := env.Load(ctx, RedisFailoverName, cfg.Rate, dur, inject, heal)
	if err != nil {
		return s, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := f.waitPromoted(wctx); err != nil {
		return s, fmt.Errorf("redis-failover: no new master: %w", err)
	}
	s.RedisFailover = f.findings(pr, s.Timeline)
	if err := f.check(ctx, s.RedisFailover); err != nil {
		return s, err
	}
	// The killed master's command counters are gone: no per-request figure.
	s.RedisCommandsPerRequest, s.RedisCommands = nil, nil
	return s, nil
}

// failoverRun is the state one redis-failover run shares between its hooks
// and its checks. Right before the kill, users 0..burst-1 log in again and
// users burst..burst+revoke-1 log out and in again.
type failoverRun struct {
	env           *Env
	burst, revoke int

	mu         sync.Mutex
	held       map[int]http.Header // credential of each user at the kill
	refresh    map[int]string      // refresh token of each user at the kill
	revoked    map[int]http.Header // logged out and rejected before the kill
	killed     string
	hookOffset time.Duration // from the kill hook firing to the kill
	killedAt   time.Time
	newMaster  string
	promotedAt time.Time
	promoteErr error
	promoted   chan struct{}
}

// kill makes the writes most at risk, snapshots every credential, SIGKILLs
// the master, and starts waiting for its successor (under the scenario's
// ctx: the hook's ends with the phase).
func (f *failoverRun) kill(ctx, hctx context.Context) (string, error) {
	d := f.env.Driver
	fired := time.Now()
	for i := range f.burst {
		if _, err := d.LogIn(hctx, i); err != nil {
			return "", err
		}
	}
	revoked := map[int]http.Header{}
	for i := f.burst; i < f.burst+f.revoke; i++ {
		cred, err := d.Logout(hctx, i)
		if err != nil {
			return "", err
		}
		// Only a logout that took effect can be undone (jwt without a
		// denylist keeps accepting the access token until it expires).
		if code, err := f.status(hctx, cred); err == nil && code == http.StatusUnauthorized {
			revoked[i] = cred
		}
		// Logged in again at once (another write at risk), so that the
		// load keeps every user served and recovery can be measured.
		if _, err := d.LogIn(hctx, i); err != nil {
			return "", err
		}
	}
	held, refresh := map[int]http.Header{}, map[int]string{}
	for i := range f.env.Config.Users {
		held[i] = d.Credential(i)
		if rt := d.RefreshToken(i); rt != "" {
			refresh[i] = rt
		}
	}
	rr := f.env.Replicated
	killed, err := rr.KillMaster(hctx, masterKey)
	now := time.Now()
	f.mu.Lock()
	f.held, f.refresh, f.revoked, f.killed, f.killedAt, f.hookOffset = held, refresh, revoked, killed, now, now.Sub(fired)
	f.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("kill the Redis master: %w", err)
	}
	f.env.Progress.Note("redis-failover: master %s killed; waiting for a replica to be promoted", killed)
	go func() {
		m, err := rr.WaitNewMaster(ctx, masterKey, killed)
		f.mu.Lock()
		f.newMaster, f.promotedAt, f.promoteErr = m, time.Now(), err
		f.mu.Unlock()
		close(f.promoted)
	}()
	return killed, nil
}

// restart starts the killed master again once its successor serves.
func (f *failoverRun) restart(ctx context.Context) (string, error) {
	if err := f.waitPromoted(ctx); err != nil {
		return "", err
	}
	f.env.Progress.Note("redis-failover: new master %s; restarting %s as a replica", f.newMaster, f.killed)
	return f.killed, f.env.Replicated.Restart(ctx, f.killed)
}

func (f *failoverRun) waitPromoted(ctx context.Context) error {
	select {
	case <-f.promoted:
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.promoteErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// findings measures the phase around the kill: when it happened, how long
// the promotion took, the requests in between, the time to recover.
func (f *failoverRun) findings(pr *load.PhaseResult, timeline []report.Second) *report.RedisFailover {
	f.mu.Lock()
	defer f.mu.Unlock()
	hookAt, _ := pr.EventAt("redis-master-kill")
	killAt := hookAt + f.hookOffset
	promotion := f.promotedAt.Sub(f.killedAt)
	out := &report.RedisFailover{
		KilledMaster: f.killed, NewMaster: f.newMaster, KillAtS: report.Round3(killAt.Seconds()),
		PromotedAfterS: report.Float(report.Round3(promotion.Seconds())),
		RecoveryS:      report.Recovery(timeline, killAt.Seconds()),
	}
	w := window{from: killAt, to: killAt + promotion}
	for _, rec := range pr.Records {
		if w.contains(rec.At) {
			out.WindowRequests++
			load.Count(&out.WindowErrors, rec.Class)
		}
	}
	return out
}

// check sends every credential held at the kill once through the lb now
// that the new master serves: 401 means the write never reached the
// replica; and every logout made before the kill: 200 means it was undone.
func (f *failoverRun) check(ctx context.Context, out *report.RedisFailover) error {
	f.mu.Lock()
	held, refresh, revoked := f.held, f.refresh, f.revoked
	f.mu.Unlock()
	out.Deployment = f.env.RedisDeployment
	out.Checked, out.JustIssued, out.Revoked = len(held), f.burst+f.revoke, len(revoked)
	for i, cred := range held {
		code, err := f.status(ctx, cred)
		if err != nil {
			return err
		}
		if code == http.StatusUnauthorized {
			out.SessionsLost++
			if i < f.burst+f.revoke {
				out.JustIssuedLost++
			}
		}
	}
	out.RefreshChecked = len(refresh)
	for _, rt := range refresh {
		code, err := f.refreshStatus(ctx, rt)
		if err != nil {
			return err
		}
		if code == http.StatusUnauthorized {
			out.RefreshLost++
		}
	}
	for _, cred := range revoked {
		code, err := f.status(ctx, cred)
		if err != nil {
			return err
		}
		if code/100 == 2 {
			out.RevocationsLost++
		}
	}
	out.Method = fmt.Sprintf("right before the kill, %d users logged in again and %d logged out and in again (a logout counts only if the credential was rejected at once); "+
		"once a new master served writes, every credential held at the kill (%d, the fresh ones included) and every logged-out one (%d) was sent once through the lb to %s: "+
		"401 = lost to asynchronous replication, 2xx for a logged-out one = logout undone; every refresh token held at the kill (%d) was redeemed once at /auth/refresh: 401 = lost "+
		"(a 503 is retried, up to 10 times)",
		f.burst, f.revoke, len(held), len(revoked), f.env.Driver.Path(), len(refresh))
	return nil
}

// refreshStatus redeems refresh token rt once through the lb (it rotates:
// the token is spent) and returns the status, retried while 503.
func (f *failoverRun) refreshStatus(ctx context.Context, rt string) (int, error) {
	body, err := json.Marshal(map[string]string{"refresh_token": rt})
	if err != nil {
		return 0, err
	}
	return f.send(ctx, http.MethodPost, "/auth/refresh", body, http.Header{"Content-Type": {"application/json"}})
}

// status is the lb's answer to one request with cred, retried while the
// gateway answers 503 (its Redis client still reconnecting).
func (f *failoverRun) status(ctx context.Context, cred http.Header) (int, error) {
	return f.send(ctx, http.MethodGet, f.env.Driver.Path(), nil, cred)
}

// send makes one request through the lb, retried while it answers 503.
func (f *failoverRun) send(ctx context.Context, method, path string, body []byte, h http.Header) (int, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	url := f.env.Driver.BaseURL() + path
	for try := 0; ; try++ {
		code, err := statusOf(ctx, client, method, url, body, h)
		if err != nil {
			return 0, fmt.Errorf("redis-failover check: %w", err)
		}
		if code != http.StatusServiceUnavailable || try >= 9 {
			return code, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
