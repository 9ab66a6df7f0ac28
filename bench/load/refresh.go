package load

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// background is what a phase runs beside its requests: the refreshes its
// targeter started, under the phase's context, waited for when it ends.
type background struct {
	ctx context.Context
	wg  sync.WaitGroup
}

// busy reports whether u should sit this request out at now: it is logging
// in again, or its token has expired and its refresh is under way.
func (u *user) busy(now time.Time) bool {
	return u.relogging || u.cycling || (u.refreshing && !now.Before(u.expires))
}

// refreshAhead starts the refresh of user idx's access token when
// refresh-ahead is on (Config.RefreshAhead, or the phase's) and the token
// expires within that margin of now (or within half its lifetime, when
// that is shorter): once per credential generation, not while another refresh or a
// re-login runs. Called with d.mu held, from the targeter.
func (d *Driver) refreshAhead(idx int, now time.Time) {
	u := d.users[idx]
	// Never before half the token's lifetime: a margin longer than the
	// lifetime would otherwise refresh at every request.
	margin := min(d.margin, u.expires.Sub(u.issued)/2)
	if margin <= 0 || d.bg == nil || u.refresh == "" || u.expires.IsZero() ||
		u.refreshing || u.relogging || u.cycling || u.refreshFailedGen == u.gen || u.expires.Sub(now) > margin {
		return
	}
	u.refreshing = true
	bg, pr, gen := d.bg, d.phase, u.gen
	rt := u.refresh
	h, _ := u.headers()
	bg.wg.Add(1)
	go func() {
		defer bg.wg.Done()
		d.refresh(bg.ctx, idx, gen, rt, h, pr)
	}()
}

// refresh exchanges user idx's refresh token rt (of credential generation
// gen, sent with headers h) and installs the new pair, counting it in pr;
// a pair that arrives after the user logged in again is dropped (the
// login's credential is newer).
func (d *Driver) refresh(ctx context.Context, idx, gen int, rt string, h http.Header, pr *PhaseResult) {
	t0 := time.Now()
	cred, err := Refresh(ctx, d.client, d.cfg.BaseURL, rt, h)
	lat := time.Since(t0)
	d.mu.Lock()
	defer d.mu.Unlock()
	u := d.users[idx]
	u.refreshing = false
	if err != nil {
		u.refreshFailedGen = gen
		if pr != nil {
			pr.RefreshFailures++
		}
		d.cfg.Logger.Debug("refresh ahead of expiry failed", "user", u.name, "err", err)
		return
	}
	if pr != nil {
		pr.Refreshes = append(pr.Refreshes, lat)
		pr.RefreshMarks = append(pr.RefreshMarks, RefreshMark{User: idx, At: t0.Add(lat)})
	}
	if u.gen != gen || u.cycling {
		return // logged in again, or logging out: the pair is not wanted
	}
	u.install(cred)
	u.fromRefresh = true
}
