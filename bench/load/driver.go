// Package load drives the harness's load: simulated users, each with its
// own credential (cookie jar or bearer token), log in and then send
// requests through the lb with vegeta at a constant rate (open model:
// latency counts from when a request was due, start + (seq+1)/rate, not
// from when vegeta sent it: no coordinated omission). Each phase also
// says whether the generator kept up (send lag, achieved rate, its own
// CPU; see Health).
// Every answer is classified (ok, session lost, store down, …); a user
// whose session is lost logs in again in the background. A phase's
// records are summarised into the load part of a report.Scenario.
package load

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/sync/errgroup"

	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/lb"
)

// MaxUsers bounds Config.Users: the auth service seeds a million users
// (their names widen past user9999). Every user logs in over HTTP, about
// 600 logins/s on two cores at bcrypt cost 4, so a million take half an
// hour; `authlab scale` mints sessions at that scale through the
// gateway's preload path instead.
const MaxUsers = 1_000_000

// DefaultPath is the request every user repeats unless told otherwise: the
// whole chain, lb → gateway → backend.
const DefaultPath = "/api/me"

// Config configures a Driver.
type Config struct {
	// BaseURL is the lb (or a single gateway): http://127.0.0.1:8000.
	BaseURL string
	// Users is the number of distinct users, UserName(0) … UserName(Users-1).
	Users int
	// Password is the seeded users' password.
	Password string
	// Path is the request every user repeats (default DefaultPath).
	Path string
	// Timeout bounds one request (default 10 s).
	Timeout time.Duration
	// Skew: 0 sends every user's requests in turn (each the same share);
	// a value > 1 draws users from a Zipf distribution with that exponent
	// (user0001 the heaviest), seeded with Seed.
	Skew float64
	Seed uint64
	// RefreshAhead: a user whose access token expires within this margin
	// exchanges its refresh token (POST /auth/refresh) in the background
	// before its next request, and a user whose token has already expired
	// waits for that refresh (its requests go to other users meanwhile)
	// rather than sending a request bound to fail. It applies to users with
	// a refresh token and a known expiry (the refreshable strategies, jwt);
	// 0 (the default) is off: tokens expire and the next request gets a
	// 401, counted as a session lost. A failed refresh is counted and not
	// retried for that credential. A token is never refreshed before half
	// its lifetime, whatever the margin.
	RefreshAhead time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Validate checks c and fills defaults.
func (c *Config) Validate() error {
	if !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		return fmt.Errorf("bench: base url %q must start with http:// or https://", c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Users < 1 || c.Users > MaxUsers {
		return fmt.Errorf("bench: users must be 1..%d, got %d", MaxUsers, c.Users)
	}
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if !strings.HasPrefix(c.Path, "/") || strings.Contains(c.Path, "#") {
		return fmt.Errorf("bench: path %q must start with / and hold no fragment", c.Path)
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Skew != 0 && !(c.Skew > 1) {
		return fmt.Errorf("bench: user skew %v: want 0 (every user in turn) or a Zipf exponent > 1", c.Skew)
	}
	if c.RefreshAhead < 0 {
		return fmt.Errorf("bench: refresh-ahead margin %v: want 0 (off) or positive", c.RefreshAhead)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// UserName is the name of the harness's user i. The harness numbers its
// users from 0 (they index slices); the auth service seeds them from 1
// (identity.SeedUsername): user 0 is user0001. This is the one place that maps
// one to the other.
func UserName(i int) string { return identity.SeedUsername(i + 1) }

// Driver sends the load. It is not meant for concurrent Run calls.
type Driver struct {
	cfg    Config
	client *http.Client

	mu        sync.Mutex
	users     []*user
	pick      picker
	credBytes int64
	sent      int64
	phase     *PhaseResult
	// bg are the running phase's background refreshes (refresh.go),
	// margin its refresh-ahead margin, mix its route draw (nil: every
	// request is Config.Path).
	bg     *background
	margin time.Duration
	mix    *mixDraw
}

// New returns a Driver for cfg; users start logged out.
func New(cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Driver{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout}, pick: &roundRobin{n: uint64(cfg.Users)}}
	if cfg.Skew > 0 {
		z, err := newZipf(cfg.Users, cfg.Skew, cfg.Seed)
		if err != nil {
			return nil, err
		}
		d.pick = z
	}
	for i := range cfg.Users {
		d.users = append(d.users, &user{name: UserName(i)})
	}
	return d, nil
}

// LoginAll logs every user in (16 at a time). It fails only when no login
// at all succeeded; other failures are counted in the result.
func (d *Driver) LoginAll(ctx context.Context) (report.Login, error) {
	return d.LoginAllSplit(ctx, nil)
}

// LoginAllSplit is LoginAll in two halves: once the first half is logged
// in it calls between (when not nil), which must call secondHalf once;
// secondHalf logs the second half in and returns how many of those logins
// succeeded. The first half warms up whatever
// grows with concurrent logins (connection pools, buffers), so a
// measurement across the second half is the sessions' own cost.
func (d *Driver) LoginAllSplit(ctx context.Context, between func(secondHalf func() int)) (report.Login, error) {
	var (
		mu    sync.Mutex
		lats  []time.Duration
		fails int
		first error
	)
	half := len(d.users) / 2
	if between == nil {
		half = 0
	}
	d.loginRange(ctx, 0, half, &mu, &lats, &fails, &first)
	okBefore := len(lats)
	if between != nil {
		between(func() int {
			d.loginRange(ctx, half, len(d.users), &mu, &lats, &fails, &first)
			return len(lats) - okBefore
		})
	} else {
		d.loginRange(ctx, half, len(d.users), &mu, &lats, &fails, &first)
	}
	res := report.Login{Users: len(d.users), Failures: fails, Latency: report.Summarize(lats)}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if fails == len(d.users) {
		return res, fmt.Errorf("every login failed, first: %w", first)
	}
	if fails > 0 {
		d.cfg.Logger.Warn("some logins failed", "failed", fails, "users", len(d.users), "first", first)
	}
	return res, nil
}

// loginRange logs users [from, to) in, 16 at a time, adding to the
// latencies, failures and first error under mu.
func (d *Driver) loginRange(ctx context.Context, from, to int, mu *sync.Mutex, lats *[]time.Duration, fails *int, first *error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := from; i < to; i++ {
		g.Go(func() error {
			lat, err := d.LogIn(gctx, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				*fails++
				if *first == nil {
					*first = err
				}
				return nil
			}
			*lats = append(*lats, lat)
			return nil
		})
	}
	_ = g.Wait()
}

// LogIn logs user i in (keeping its lb pin cookie), installs the new
// credential and returns how long the login took.
func (d *Driver) LogIn(ctx context.Context, i int) (time.Duration, error) {
	d.mu.Lock()
	u := d.users[i]
	h, _ := u.headers()
	d.mu.Unlock()
	t0 := time.Now()
	pw := d.cfg.Password
	if u.password != "" {
		pw = u.password
	}
	cred, err := Login(ctx, d.client, d.cfg.BaseURL, u.name, pw, h)
	lat := time.Since(t0)
	if err != nil {
		return lat, err
	}
	d.mu.Lock()
	u.install(cred)
	u.instance = cred.Instance
	u.relogging = false
	d.mu.Unlock()
	return lat, nil
}

// Run drives one phase: a new vegeta Attacker (an Attacker cannot run a
// second attack) at a constant rate for the phase's duration, each request
// carrying the next user's credential, hooks fired at their offsets. Users
// whose session is lost log in again in the background while the others
// carry on.
func (d *Driver) Run(ctx context.Context, p Phase) (*PhaseResult, error) {
	if p.Rate <= 0 || p.Duration <= 0 {
		return nil, fmt.Errorf("bench: phase %s: rate and duration must be positive", p.Name)
	}
	if err := d.checkPhase(p); err != nil {
		return nil, err
	}
	pr := d.beginPhase(ctx, p)
	atk, pacer := newAttack(d.cfg.Timeout, p.Rate)
	cpu0 := SelfCPU()
	start := time.Now()
	pr.Start = start
	sched := newPacing(start, pacer.Freq, pacer.Per)
	results := atk.Attack(d.target, pacer, p.Duration, p.Name)
	stopOnCancel := context.AfterFunc(ctx, func() { atk.Stop() })
	hooks := startHooks(ctx, start, p.Hooks, pr)
	d.observeAll(ctx, results, sched, pr)
	pr.Wall, pr.GeneratorCPU = time.Since(start), SelfCPU()-cpu0
	stopOnCancel()
	hookErr := hooks.wait()
	d.endPhase(pr)
	if err := ctx.Err(); err != nil {
		return pr, err
	}
	return pr, hookErr
}

// beginPhase makes pr the phase whose requests target counts; the
// refreshes it starts run under ctx.
func (d *Driver) beginPhase(ctx context.Context, p Phase) *PhaseResult {
	pr := &PhaseResult{Name: p.Name, Rate: p.Rate, Duration: p.Duration}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.credBytes, d.sent, d.phase = 0, 0, pr
	d.bg = &background{ctx: ctx}
	d.margin = d.cfg.RefreshAhead
	if p.RefreshAhead > 0 {
		d.margin = p.RefreshAhead
	}
	d.mix = nil
	if p.Mix != nil {
		d.mix = newMixDraw(p.Mix)
	}
	return pr
}

// checkPhase checks p's own settings against d.
func (d *Driver) checkPhase(p Phase) error {
	if p.RefreshAhead < 0 {
		return fmt.Errorf("bench: phase %s: refresh-ahead margin %v: want 0 or positive", p.Name, p.RefreshAhead)
	}
	if p.Mix == nil {
		return nil
	}
	d.mu.Lock()
	n := len(d.users)
	d.mu.Unlock()
	if err := p.Mix.validate(n); err != nil {
		return fmt.Errorf("bench: phase %s: %w", p.Name, err)
	}
	return nil
}

// endPhase closes pr once the refreshes the phase started are done: its
// credential bytes and sends, events and records in time order.
func (d *Driver) endPhase(pr *PhaseResult) {
	d.mu.Lock()
	bg := d.bg
	d.mu.Unlock()
	if bg != nil {
		bg.wg.Wait()
	}
	d.mu.Lock()
	pr.CredBytes, pr.Sent, d.phase, d.bg, d.mix = d.credBytes, d.sent, nil, nil, nil
	d.mu.Unlock()
	sort.Slice(pr.Events, func(i, j int) bool { return pr.Events[i].AtS < pr.Events[j].AtS })
	sort.Slice(pr.Records, func(i, j int) bool { return pr.Records[i].At < pr.Records[j].At })
}

// observeAll classifies every result until the attack ends, then waits
// for the re-logins it started.
func (d *Driver) observeAll(ctx context.Context, results <-chan *vegeta.Result, sched pacing, pr *PhaseResult) {
	relogCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var relogins sync.WaitGroup
	for r := range results {
		d.observe(relogCtx, &relogins, r, sched, pr)
	}
	relogins.Wait()
}

// runningHooks are a phase's hooks, each waiting for its offset.
type runningHooks struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

// startHooks fires every hook at start+At, recording an event in pr for
// each that succeeds.
func startHooks(ctx context.Context, start time.Time, hooks []Hook, pr *PhaseResult) *runningHooks {
	ctx, cancel := context.WithCancel(ctx)
	rh := &runningHooks{cancel: cancel}
	for _, h := range hooks {
		rh.wg.Add(1)
		go func() {
			defer rh.wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(start.Add(h.At))):
			}
			at := time.Since(start)
			inst, err := h.Do(ctx)
			rh.mu.Lock()
			defer rh.mu.Unlock()
			if err != nil {
				rh.errs = append(rh.errs, fmt.Errorf("%s at %s: %w", h.Type, at.Round(time.Millisecond), err))
				return
			}
			pr.Events = append(pr.Events, report.Event{Type: h.Type, AtS: report.Round3(at.Seconds()), Instance: inst})
			if first, seen := pr.eventAt[h.Type]; !seen || at < first {
				if pr.eventAt == nil {
					pr.eventAt = map[string]time.Duration{}
				}
				pr.eventAt[h.Type] = at
			}
		}()
	}
	return rh
}

// wait cancels the hooks not yet fired and returns the errors of those
// that failed.
func (rh *runningHooks) wait() error {
	rh.cancel()
	rh.wg.Wait()
	return errors.Join(rh.errs...)
}

// newAttack is the attacker and constant pacer of one phase at rate
// requests/s — the same for a single driver's phase and for RunTogether's
// interleaved one, so both measure alike: keep-alive, no redirects, bodies
// read up to 4 KiB, the rate in thousandths.
func newAttack(timeout time.Duration, rate float64) (*vegeta.Attacker, vegeta.ConstantPacer) {
	atk := vegeta.NewAttacker(
		vegeta.Timeout(timeout),
		vegeta.KeepAlive(true),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.MaxBody(4096),
	)
	return atk, vegeta.ConstantPacer{Freq: int(math.Round(rate * 1000)), Per: 1000 * time.Second}
}

// target is the vegeta Targeter: the next request's route (Phase.Mix;
// Config.Path without one) and user — the picker's draw, skipping users
// busy logging in again or waiting for the refresh of an expired token, or
// the route's own user; a user whose token nears expiry starts its refresh
// (Config.RefreshAhead) — with its credential headers, and in the URL
// fragment its index, credential generation, route and whether the
// credential came from a refresh: the fragment stays on Result.URL but is
// never sent to the server.
func (d *Driver) target(t *vegeta.Target) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	route, r := 0, Route{Path: d.cfg.Path, User: DrawnUser}
	if d.mix != nil {
		route = d.mix.draw()
		r = d.mix.routes[route]
	}
	idx := -1
	if r.User != DrawnUser {
		d.refreshAhead(r.User, now)
		if u := d.users[r.User]; u.busy(now) {
			route, r = 0, d.mix.routes[0]
		} else {
			idx = r.User
		}
	}
	if idx < 0 {
		idx = d.drawUser(now)
		// A client does one auth call at a time: no logout while its
		// refresh runs (it would revoke the family under the refresh).
		if r.Logout && (d.users[idx].busy(now) || d.users[idx].refreshing) {
			route, r = 0, d.mix.routes[0]
		}
	}
	u := d.users[idx]
	h, nb := u.headers()
	d.credBytes += int64(nb)
	d.sent++
	frag := "#" + strconv.Itoa(idx) + "." + strconv.Itoa(u.gen) + "." + strconv.Itoa(route) + "." + strconv.Itoa(b2i(u.fromRefresh))
	t.Method, t.Header, t.Body = http.MethodGet, h, nil
	if r.Logout {
		u.cycling = true
		if u.loggedOut == nil {
			u.loggedOut = map[int]bool{}
		}
		u.loggedOut[u.gen] = true
		h.Set("Content-Type", "application/json")
		t.Method, t.Body, t.URL = http.MethodPost, []byte("{}"), d.cfg.BaseURL+"/auth/logout"+frag
		return nil
	}
	t.URL = d.cfg.BaseURL + r.Path + frag
	return nil
}

// drawUser draws the next user from the picker, skipping busy ones (at
// most one round of draws), and starts the refresh of the tokens of those
// drawn that near expiry. Called with d.mu held.
func (d *Driver) drawUser(now time.Time) int {
	n := uint64(d.cfg.Users)
	idx := int(d.pick.pick())
	for tries := uint64(1); ; tries++ {
		d.refreshAhead(idx, now)
		if tries >= n || !d.users[idx].busy(now) {
			return idx
		}
		idx = int(d.pick.pick())
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fragment is what target put in a request's URL fragment.
type fragment struct {
	idx, gen, route int
	refreshed       bool
}

// parseFragment reads "idx.gen" or "idx.gen.route.refreshed" after the
// URL's last '#'.
func parseFragment(rawURL string) (fragment, bool) {
	i := strings.LastIndexByte(rawURL, '#')
	if i < 0 {
		return fragment{}, false
	}
	parts := strings.Split(rawURL[i+1:], ".")
	if len(parts) != 2 && len(parts) != 4 {
		return fragment{}, false
	}
	nums := make([]int, 4)
	for k, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil {
			return fragment{}, false
		}
		nums[k] = v
	}
	return fragment{idx: nums[0], gen: nums[1], route: nums[2], refreshed: nums[3] == 1}, true
}

// observe classifies one result, updates its user (cookies, instance) and
// starts a re-login when the user's current credential was just rejected.
// The result is placed on the phase's schedule: its latency counts from
// when it was due, not from when vegeta got round to sending it.
func (d *Driver) observe(ctx context.Context, wg *sync.WaitGroup, r *vegeta.Result, sched pacing, pr *PhaseResult) {
	f, ok := parseFragment(r.URL)
	idx, gen := f.idx, f.gen
	tm := sched.time(r.Seq, r.Timestamp, r.Latency)
	d.mu.Lock()
	defer d.mu.Unlock()
	if !ok || idx < 0 || idx >= len(d.users) {
		// The targeter never makes such a URL; count it as a transport
		// failure rather than dropping it.
		pr.Records = append(pr.Records, Record{At: tm.Intended, Sent: tm.Sent, SendLag: tm.Lag, Latency: tm.Latency, Class: ClassTransport, User: -1})
		return
	}
	inst := r.Headers.Get(lb.InstanceHeader)
	u := d.users[idx]
	// A credential its user logged out (a Logout route) is no session
	// lost when rejected: it was given up.
	cls := Classify(int(r.Code), inst, u.loggedIn && !u.loggedOut[gen])
	rec := Record{At: tm.Intended, Sent: tm.Sent, SendLag: tm.Lag, Latency: tm.Latency, Code: r.Code, Class: cls, User: idx,
		Instance: inst, Route: f.route, Refreshed: f.refreshed}
	pr.Records = append(pr.Records, rec)
	if cls == ClassOK {
		pr.observeHops(r.Headers, r.Latency)
	}
	if d.mix != nil && f.route < len(d.mix.routes) && d.mix.routes[f.route].Logout {
		u.mergeSetCookies(r.Headers)
		d.cycleLogout(ctx, wg, idx, cls == ClassOK, pr)
		return
	}
	if gen != u.gen {
		return // an answer to an older credential: already handled
	}
	u.mergeSetCookies(r.Headers)
	switch {
	case cls == ClassOK && inst != "":
		u.instance = inst
	case cls == ClassSessionLost && !u.relogging:
		u.relogging = true
		// A loss is dated when the 401 arrived, not when the request was
		// due: a request sent just before a kill but answered after it
		// belongs to the kill (under load, such requests queue a while).
		pr.Losses = append(pr.Losses, Loss{At: rec.At + rec.Latency, User: u.name, Instance: u.instance})
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.logInAgain(ctx, idx, &pr.Relogins, &pr.ReloginFailures, func(u *user) { u.relogging = false })
		}()
	}
}

// PinnedTo returns the sorted names of the users last served by instance.
func (d *Driver) PinnedTo(instance string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, u := range d.users[:d.cfg.Users] {
		if u.instance == instance {
			out = append(out, u.name)
		}
	}
	return out
}

// InstanceCounts returns how many users each instance last served.
func (d *Driver) InstanceCounts() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]int{}
	for _, u := range d.users[:d.cfg.Users] {
		out[u.instance]++
	}
	return out
}

// Credential returns user i's current credential headers (Cookie and/or
// Authorization).
func (d *Driver) Credential(i int) http.Header {
	d.mu.Lock()
	defer d.mu.Unlock()
	h, _ := d.users[i].headers()
	return h
}

// Users is the number of users.
func (d *Driver) Users() int { return d.cfg.Users }

// Skew is the Zipf exponent users are drawn with (0: in turn).
func (d *Driver) Skew() float64 { return d.cfg.Skew }

// RefreshToken returns the refresh token user i's last login handed back
// ("" when the strategy has none).
func (d *Driver) RefreshToken(i int) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.users[i].refresh
}

// Logout logs user i out through the lb and returns the credential it
// carried (for polling), after which the user is considered logged out.
func (d *Driver) Logout(ctx context.Context, i int) (http.Header, error) {
	h := d.Credential(i)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.BaseURL+"/auth/logout", strings.NewReader("{}"))
	if err != nil {
		return nil, fmt.Errorf("logout: %w", err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	// The gateway answers 415 to a state-changing POST that is not JSON.
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("logout %s: %w", UserName(i), err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("logout %s: status %d", UserName(i), resp.StatusCode)
	}
	d.mu.Lock()
	d.users[i].loggedIn = false
	d.mu.Unlock()
	return h, nil
}

// Live returns the progress of the running phase (zero when none runs).
func (d *Driver) Live() LiveStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	pr := d.phase
	if pr == nil {
		return LiveStats{}
	}
	st := LiveStats{Requests: len(pr.Records), Lost: len(pr.Losses), Relogins: len(pr.Relogins)}
	var recent []time.Duration
	var last time.Duration
	if n := len(pr.Records); n > 0 {
		last = pr.Records[n-1].At
	}
	for i := len(pr.Records) - 1; i >= 0; i-- {
		r := pr.Records[i]
		if r.Class == ClassOK {
			st.OK++
		}
		if last-r.At < time.Second {
			recent = append(recent, r.Latency)
		}
	}
	st.RecentP99Ms = report.Summarize(recent).P99
	return st
}

// BaseURL returns the lb (or gateway) the driver sends to.
func (d *Driver) BaseURL() string { return d.cfg.BaseURL }

// Path returns the request every user repeats.
func (d *Driver) Path() string { return d.cfg.Path }
