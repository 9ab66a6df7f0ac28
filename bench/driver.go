// Package bench is the benchmark harness: it drives load through the lb
// with vegeta (constant rate, open model, one credential per simulated
// user), starts and tears down the topology, runs the scenarios and builds
// the report (package bench/report).
package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/sync/errgroup"

	"github.com/authlab/authlab/bench/report"
)

// Config configures a Driver.
type Config struct {
	// BaseURL is the lb (or a single gateway): http://127.0.0.1:8000.
	BaseURL string
	// Users is the number of distinct users (user0001…).
	Users int
	// Password is the seeded users' password.
	Password string
	// Path is the request every user repeats (default /api/me).
	Path string
	// Timeout bounds one request (default 10 s).
	Timeout time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Validate checks c and fills defaults.
func (c *Config) Validate() error {
	if !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		return fmt.Errorf("bench: base url %q must start with http:// or https://", c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Users < 1 || c.Users > 9999 {
		return fmt.Errorf("bench: users must be 1..9999, got %d", c.Users)
	}
	if c.Path == "" {
		c.Path = "/api/me"
	}
	if !strings.HasPrefix(c.Path, "/") || strings.Contains(c.Path, "#") {
		return fmt.Errorf("bench: path %q must start with / and hold no fragment", c.Path)
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// UserName is the seeded name of user i (0-based): user0001 for 0.
func UserName(i int) string { return fmt.Sprintf("user%04d", i+1) }

// Driver sends the load. It is not meant for concurrent Run calls.
type Driver struct {
	cfg    Config
	client *http.Client

	mu        sync.Mutex
	users     []*user
	next      uint64
	credBytes int64
	sent      int64
	phase     *PhaseResult
}

// New returns a Driver for cfg; users start logged out.
func New(cfg Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Driver{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout}}
	for i := range cfg.Users {
		d.users = append(d.users, &user{name: UserName(i)})
	}
	return d, nil
}

// LoginAll logs every user in (16 at a time). It fails only when no login
// at all succeeded; other failures are counted in the result.
func (d *Driver) LoginAll(ctx context.Context) (report.Login, error) {
	var (
		mu    sync.Mutex
		lats  []time.Duration
		fails int
		first error
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range d.users {
		g.Go(func() error {
			lat, err := d.loginUser(gctx, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fails++
				if first == nil {
					first = err
				}
				return nil
			}
			lats = append(lats, lat)
			return nil
		})
	}
	_ = g.Wait()
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

// loginUser logs user i in (keeping its lb pin cookie) and installs the
// new credential.
func (d *Driver) loginUser(ctx context.Context, i int) (time.Duration, error) {
	d.mu.Lock()
	u := d.users[i]
	h, _ := u.headers()
	d.mu.Unlock()
	t0 := time.Now()
	cred, err := login(ctx, d.client, d.cfg.BaseURL, u.name, d.cfg.Password, h)
	lat := time.Since(t0)
	if err != nil {
		return lat, err
	}
	d.mu.Lock()
	u.mergeSetCookies(cred.setCookies)
	if cred.bearer != "" {
		u.bearer = cred.bearer
	}
	u.instance = cred.instance
	u.loggedIn = true
	u.gen++
	u.relogging = false
	d.mu.Unlock()
	return lat, nil
}

// Record is one request of a phase.
type Record struct {
	// At is the intended send time since the start of the phase.
	At time.Duration
	// Latency is measured from the send time (workers are unbounded, so a
	// request is sent when it is due: no coordinated omission).
	Latency  time.Duration
	Code     uint16
	Class    Class
	User     int
	Instance string
}

// Loss is one session lost: user's credential rejected with 401 after it
// had been logged in. Instance is the one that last served the user
// before the loss.
type Loss struct {
	// At is when the 401 arrived, from the phase's start.
	At       time.Duration
	User     string
	Instance string
}

// Hook runs during a phase at offset At; it returns the instance it acted
// on (for the event) or an error that fails the phase.
type Hook struct {
	At   time.Duration
	Type string
	Do   func(ctx context.Context) (instance string, err error)
}

// Phase is one constant-rate attack.
type Phase struct {
	Name     string
	Rate     float64
	Duration time.Duration
	Hooks    []Hook
}

// PhaseResult is everything a phase saw.
type PhaseResult struct {
	Name            string
	Rate            float64
	Duration        time.Duration
	Records         []Record
	Losses          []Loss
	Relogins        []time.Duration
	ReloginFailures int
	CredBytes       int64
	Sent            int64
	Events          []report.Event
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
	pr := &PhaseResult{Name: p.Name, Rate: p.Rate, Duration: p.Duration}
	d.mu.Lock()
	d.credBytes, d.sent, d.phase = 0, 0, pr
	d.mu.Unlock()

	atk := vegeta.NewAttacker(
		vegeta.Timeout(d.cfg.Timeout),
		vegeta.KeepAlive(true),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.MaxBody(4096),
	)
	pacer := vegeta.ConstantPacer{Freq: int(math.Round(p.Rate * 1000)), Per: 1000 * time.Second}
	relogCtx, relogCancel := context.WithCancel(ctx)
	defer relogCancel()
	var relogWG sync.WaitGroup

	start := time.Now()
	results := atk.Attack(d.target, pacer, p.Duration, p.Name)

	hookCtx, hookCancel := context.WithCancel(ctx)
	defer hookCancel()
	var (
		hookWG   sync.WaitGroup
		hookMu   sync.Mutex
		hookErrs []error
	)
	for _, h := range p.Hooks {
		hookWG.Add(1)
		go func() {
			defer hookWG.Done()
			select {
			case <-hookCtx.Done():
				return
			case <-time.After(time.Until(start.Add(h.At))):
			}
			at := time.Since(start)
			inst, err := h.Do(hookCtx)
			hookMu.Lock()
			defer hookMu.Unlock()
			if err != nil {
				hookErrs = append(hookErrs, fmt.Errorf("%s at %s: %w", h.Type, at.Round(time.Millisecond), err))
				return
			}
			pr.Events = append(pr.Events, report.Event{Type: h.Type, AtS: round3(at.Seconds()), Instance: inst})
		}()
	}
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			atk.Stop()
		case <-stopped:
		}
	}()
	for r := range results {
		d.observe(relogCtx, &relogWG, r, start, pr)
	}
	close(stopped)
	hookCancel()
	hookWG.Wait()
	relogWG.Wait()

	d.mu.Lock()
	pr.CredBytes, pr.Sent, d.phase = d.credBytes, d.sent, nil
	d.mu.Unlock()
	sort.Slice(pr.Events, func(i, j int) bool { return pr.Events[i].AtS < pr.Events[j].AtS })
	sort.Slice(pr.Records, func(i, j int) bool { return pr.Records[i].At < pr.Records[j].At })
	if err := ctx.Err(); err != nil {
		return pr, err
	}
	return pr, errors.Join(hookErrs...)
}

// target is the vegeta Targeter: the next user (skipping users busy
// logging in again), its credential headers, and its index and credential
// generation in the URL fragment, which stays on Result.URL but is never
// sent to the server.
func (d *Driver) target(t *vegeta.Target) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := uint64(len(d.users))
	idx := d.next % n
	for tries := uint64(0); tries < n; tries++ {
		idx = d.next % n
		d.next++
		if !d.users[idx].relogging {
			break
		}
	}
	u := d.users[idx]
	h, nb := u.headers()
	d.credBytes += int64(nb)
	d.sent++
	t.Method = http.MethodGet
	t.URL = d.cfg.BaseURL + d.cfg.Path + "#" + strconv.FormatUint(idx, 10) + "." + strconv.Itoa(u.gen)
	t.Header = h
	t.Body = nil
	return nil
}

func parseFragment(rawURL string) (idx, gen int, ok bool) {
	i := strings.LastIndexByte(rawURL, '#')
	if i < 0 {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rawURL[i+1:], ".")
	if !found {
		return 0, 0, false
	}
	x, err1 := strconv.Atoi(a)
	y, err2 := strconv.Atoi(b)
	return x, y, err1 == nil && err2 == nil
}

// observe classifies one result, updates its user (cookies, instance) and
// starts a re-login when the user's current credential was just rejected.
func (d *Driver) observe(ctx context.Context, wg *sync.WaitGroup, r *vegeta.Result, start time.Time, pr *PhaseResult) {
	idx, gen, ok := parseFragment(r.URL)
	d.mu.Lock()
	defer d.mu.Unlock()
	if !ok || idx < 0 || idx >= len(d.users) {
		// The targeter never makes such a URL; count it as a transport
		// failure rather than dropping it.
		pr.Records = append(pr.Records, Record{At: r.Timestamp.Sub(start), Latency: r.Latency, Class: ClassTransport, User: -1})
		return
	}
	inst := r.Headers.Get(InstanceHeader)
	u := d.users[idx]
	cls := Classify(int(r.Code), inst, u.loggedIn)
	rec := Record{At: r.Timestamp.Sub(start), Latency: r.Latency, Code: r.Code, Class: cls, User: idx, Instance: inst}
	pr.Records = append(pr.Records, rec)
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
		pr.Losses = append(pr.Losses, Loss{At: rec.At + r.Latency, User: u.name, Instance: u.instance})
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.relogin(ctx, idx, pr)
		}()
	}
}

// relogin logs user idx in again, retrying briefly; its latency is
// recorded apart from the load's.
func (d *Driver) relogin(ctx context.Context, idx int, pr *PhaseResult) {
	for attempt := 0; ; attempt++ {
		lat, err := d.loginUser(ctx, idx)
		d.mu.Lock()
		if err == nil {
			pr.Relogins = append(pr.Relogins, lat)
			d.mu.Unlock()
			return
		}
		pr.ReloginFailures++
		if attempt >= 20 || ctx.Err() != nil {
			d.users[idx].relogging = false
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PinnedTo returns the sorted names of the users last served by instance.
func (d *Driver) PinnedTo(instance string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, u := range d.users {
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
	for _, u := range d.users {
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

// Summary turns the phase into the load part of a report.Scenario.
func (pr *PhaseResult) Summary() report.Scenario {
	s := report.Scenario{
		Name:                   pr.Name,
		DurationS:              pr.Duration.Seconds(),
		RequestedRate:          pr.Rate,
		Requests:               len(pr.Records),
		Events:                 slices.Clone(pr.Events),
		SessionsLost:           len(pr.Losses),
		SessionsLostByInstance: map[string]int{},
		Relogins:               len(pr.Relogins),
		ReloginFailures:        pr.ReloginFailures,
		ReloginLatency:         report.Summarize(slices.Clone(pr.Relogins)),
	}
	if pr.Sent > 0 {
		s.CredentialBytes = round3(float64(pr.CredBytes) / float64(pr.Sent))
	}
	lats := make([]time.Duration, len(pr.Records))
	nsec := int(math.Ceil(pr.Duration.Seconds()))
	if n := len(pr.Records); n > 0 {
		nsec = max(nsec, int(pr.Records[n-1].At/time.Second)+1)
	}
	secLats := make([][]time.Duration, nsec)
	s.Timeline = make([]report.Second, nsec)
	for i := range s.Timeline {
		s.Timeline[i].T = i
	}
	for i, r := range pr.Records {
		lats[i] = r.Latency
		if r.Class == ClassOK {
			s.OK++
		}
		add(&s.Errors, r.Class)
		sec := int(r.At / time.Second)
		if sec < 0 || sec >= nsec {
			continue
		}
		t := &s.Timeline[sec]
		t.Requests++
		if r.Class == ClassOK {
			t.OK++
		}
		add(&t.Errors, r.Class)
		secLats[sec] = append(secLats[sec], r.Latency)
	}
	for i, sl := range secLats {
		p := report.Summarize(sl)
		s.Timeline[i].P50, s.Timeline[i].P99, s.Timeline[i].Max = p.P50, p.P99, p.Max
	}
	for _, l := range pr.Losses {
		s.SessionsLostByInstance[l.Instance]++
		if sec := int(l.At / time.Second); sec >= 0 && sec < nsec {
			s.Timeline[sec].SessionLost++
		}
	}
	s.Latency = report.Summarize(lats)
	s.Warnings = stallWarnings(s.Timeline, pr.Rate, pr.Duration)
	if n := len(pr.Records); n > 1 {
		span := pr.Records[n-1].At - pr.Records[0].At
		if span > 0 {
			s.AchievedRate = round3(float64(n-1) / span.Seconds())
		}
	}
	return s
}

// LostUsers returns the sorted distinct users that lost their session at
// or after from.
func (pr *PhaseResult) LostUsers(from time.Duration) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range pr.Losses {
		if l.At >= from && !seen[l.User] {
			seen[l.User] = true
			out = append(out, l.User)
		}
	}
	sort.Strings(out)
	return out
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// LiveStats is a running phase's progress.
type LiveStats struct {
	Requests, OK, Lost, Relogins int
	// RecentP99Ms is the p99 of the requests answered in the last second.
	RecentP99Ms float64
}

// OKRate is OK/Requests (1 before any request).
func (s LiveStats) OKRate() float64 {
	if s.Requests == 0 {
		return 1
	}
	return float64(s.OK) / float64(s.Requests)
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

// stallWarnings flags seconds in which the load generator sent less than
// half of what it should have: the machine (not the system under test)
// was too busy to keep the rate, and latencies around them are suspect.
func stallWarnings(tl []report.Second, rate float64, dur time.Duration) []string {
	full := int(dur / time.Second) // the last partial second is expected to be short
	want := rate / 2
	if want < 1 {
		return nil
	}
	var stalled []string
	for i := 0; i < full && i < len(tl); i++ {
		if float64(tl[i].Requests) < want {
			stalled = append(stalled, strconv.Itoa(tl[i].T))
		}
	}
	if len(stalled) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("the load generator sent less than half the requested rate in second(s) %s: "+
		"the machine was overloaded (another process, or the harness itself), so latencies and errors around them are not the system's alone; re-run on a quiet machine",
		strings.Join(stalled, ", "))}
}
