package scenario

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/report"
)

// MixedName names the mixed scenario.
const MixedName = "mixed"

// The mixed scenario's defaults.
const (
	// DefaultMixedLogoutShare is the share of requests that are a
	// logout-then-login cycle.
	DefaultMixedLogoutShare = 0.01
	// MaxMixedLogoutShare bounds Config.MixedLogoutShare.
	MaxMixedLogoutShare = 0.5
	// DefaultMixedRefreshAhead is the refresh-ahead margin of refreshable
	// strategies: a token is refreshed when it has this long left (or half
	// its lifetime, when that is shorter; see load.Config.RefreshAhead).
	DefaultMixedRefreshAhead = 2 * time.Second
)

// The paths of the mix: the backend's whole API (services/backend).
// /api/me and /api/orders need role user (every account), the admin path
// role admin.
const (
	mixedMePath     = "/api/me"
	mixedOrdersPath = "/api/orders"
	mixedAdminPath  = "/api/admin/stats"
)

// mixedRoute is one route of the mix and what it should get.
type mixedRoute struct {
	load.Route
	// share is the route's share of the requests that are not logouts.
	share float64
	// deny: the answer due is 403 (a normal user on the admin path).
	deny bool
	as   string
}

// Mixed is realistic traffic in one constant-rate phase. Of the requests
// that are not logouts: 70% GET /api/me and 24% GET /api/orders by the
// drawn users (--user-skew honoured), 4% GET /api/admin/stats by the
// seeded administrator (one user: at 200 req/s, 8 of its requests a
// second), and 2% GET /api/admin/stats by a drawn normal user, which must
// be answered 403. A further share of the requests (Config.MixedLogoutShare,
// 1% by default) are logout-then-login cycles: the drawn user logs out
// (POST /auth/logout, measured with the rest) and logs in again. Users of
// refreshable strategies (jwt) refresh their access token ahead of its
// expiry (Config.MixedRefreshAhead). Every request is classified against
// the answer due (mixedOutcome): a 200 to a normal user on the admin path
// is an authorization failure, a 401 to a refreshed credential or a 403 to
// the administrator a serious finding, any other failure unexpected.
type Mixed struct{}

// Name implements Scenario.
func (Mixed) Name() string { return MixedName }

// validateMixed checks the mixed scenario's settings and fills defaults.
func (c *Config) validateMixed() error {
	switch {
	case c.MixedLogoutShare == 0:
		c.MixedLogoutShare = DefaultMixedLogoutShare
	case c.MixedLogoutShare < 0:
		c.MixedLogoutShare = -1 // none; kept apart from 0, the default
	case c.MixedLogoutShare > MaxMixedLogoutShare:
		return fmt.Errorf("mixed logout share %v: want at most %v (negative: none)", c.MixedLogoutShare, MaxMixedLogoutShare)
	}
	if c.MixedRefreshAhead < 0 {
		return fmt.Errorf("mixed refresh-ahead margin %v: want positive (0: the default %s)", c.MixedRefreshAhead, DefaultMixedRefreshAhead)
	}
	c.MixedRefreshAhead = orDefault(c.MixedRefreshAhead, DefaultMixedRefreshAhead)
	return nil
}

// Run implements Scenario.
func (Mixed) Run(ctx context.Context, env *Env) (report.Scenario, error) {
	cfg := env.Config
	routes, notes := mixedRoutes(ctx, env)
	logoutShare := max(0, cfg.MixedLogoutShare)
	for i := range routes {
		routes[i].Weight = routes[i].share * (1 - logoutShare)
	}
	if logoutShare > 0 {
		routes = append(routes, mixedRoute{Route: load.Route{Name: "logout", Weight: logoutShare, User: load.DrawnUser, Logout: true}, as: "drawn user"})
	}
	mix := &load.Mix{Seed: 0x6d69786564}
	for _, r := range routes {
		mix.Routes = append(mix.Routes, r.Route)
	}
	var margin time.Duration
	if catalog.Refreshable(cfg.Strategy) {
		margin = cfg.MixedRefreshAhead
	}
	env.Progress.Note("mixed: %d routes, logout cycles %s%% of requests, refresh-ahead %s", len(routes), fmtPct(logoutShare), marginText(margin))
	s, pr, err := env.LoadPhase(ctx, load.Phase{Name: MixedName, Rate: cfg.Rate, Duration: cfg.Duration, Mix: mix, RefreshAhead: margin})
	if err != nil {
		return s, err
	}
	m := mixedFindings(routes, pr)
	m.RefreshAheadS, m.LogoutShare = margin.Seconds(), logoutShare
	if margin > 0 && s.Refreshes+s.RefreshFailures == 0 {
		notes = append(notes, fmt.Sprintf("No access token came within the refresh-ahead margin (%s) during the phase: the strategy's access TTL outlasts the run, so refreshes were not exercised (shorten it, e.g. --gateway-args \"--access-ttl 6s\").", margin))
	}
	m.Notes = notes
	m.Verdict = mixedVerdict(m, s.Refreshes)
	s.Mixed = m
	return s, nil
}

// mixedRoutes is the mix's routes for env, and notes on those left out:
// the administrator's when the deployment's is not known, cannot log in,
// or the strategy authenticates nobody (the control group's anonymous user
// has no admin role).
func mixedRoutes(ctx context.Context, env *Env) ([]mixedRoute, []string) {
	routes := []mixedRoute{
		{Route: load.Route{Name: "me", Path: mixedMePath, User: load.DrawnUser}, share: 0.70, as: "drawn user"},
		{Route: load.Route{Name: "orders", Path: mixedOrdersPath, User: load.DrawnUser}, share: 0.24, as: "drawn user"},
	}
	var notes []string
	admin := mixedRoute{Route: load.Route{Name: "admin", Path: mixedAdminPath}, share: 0.04, as: env.AdminUser}
	switch {
	case !catalog.HasCredential(env.Config.Strategy):
		notes = append(notes, fmt.Sprintf("The admin route is left out: %s authenticates nobody (every request is the anonymous user, who has no admin role).", env.Config.Strategy))
	case env.AdminUser == "" || env.AdminPassword == "":
		notes = append(notes, "The admin route is left out: the deployment's administrator password is not known here.")
	default:
		admin.User = env.Driver.AddUser(env.AdminUser, env.AdminPassword)
		if _, err := env.Driver.LogIn(ctx, admin.User); err != nil {
			notes = append(notes, fmt.Sprintf("The admin route is left out: the administrator could not log in (%v).", err))
			break
		}
		routes = append(routes, admin)
	}
	routes = append(routes, mixedRoute{Route: load.Route{Name: "admin-as-user", Path: mixedAdminPath, User: load.DrawnUser}, share: 0.02, deny: true, as: "drawn user"})
	return routes, notes
}

// mixedOutcome classifies one request of a route whose due answer is 403
// (deny) or success, from its record: the answer's code, the driver's
// class (ClassUnauthorized: a credential its user had logged out) and
// whether the credential came from a refresh.
func mixedOutcome(deny bool, rec load.Record) string {
	code := int(rec.Code)
	switch {
	case rec.Class == load.ClassTransport:
		return report.MixedOutcomeTransport
	case code >= 200 && code < 400:
		if deny {
			return report.MixedOutcomeAuthzFailure
		}
		return report.MixedOutcomeOK
	case code == http.StatusForbidden:
		if deny {
			return report.MixedOutcomeDenied
		}
		return report.MixedOutcomeWronglyDenied
	case code == http.StatusUnauthorized:
		switch {
		case rec.Class == load.ClassUnauthorized:
			return report.MixedOutcomeAfterOwnLogout
		case rec.Refreshed:
			return report.MixedOutcomeAfterRefresh
		}
		return report.MixedOutcomeSessionLost
	case rec.Class == load.ClassStoreDown:
		return report.MixedOutcomeStoreDown
	case code >= 500:
		return report.MixedOutcomeServer
	}
	return report.MixedOutcomeOther
}

// mixedFindings summarises the phase per route and classifies every
// request.
func mixedFindings(routes []mixedRoute, pr *load.PhaseResult) *report.Mixed {
	m := &report.Mixed{
		Outcomes: map[string]int{}, Logouts: pr.Logouts, LogoutFailures: pr.LogoutFailures,
		CycleLogins: len(pr.CycleLogins), CycleLoginFailures: pr.CycleLoginFailures,
		CycleLoginLatency: report.Summarize(slices.Clone(pr.CycleLogins)),
	}
	lats := make([][]time.Duration, len(routes))
	out := make([]report.MixedRoute, len(routes))
	total := 0.0
	for _, r := range routes {
		total += r.Weight
	}
	for i, r := range routes {
		method, expect := http.MethodGet, "2xx"
		if r.Logout {
			method = http.MethodPost
		}
		if r.deny {
			expect = "403"
		}
		path := r.Path
		if r.Logout {
			path = "/auth/logout (then log in)"
		}
		out[i] = report.MixedRoute{Name: r.Name, Method: method, Path: path, As: r.as, Expect: expect,
			Weight: report.Round3(r.Weight / total), Outcomes: map[string]int{}}
	}
	for _, rec := range pr.Records {
		if rec.Route < 0 || rec.Route >= len(routes) {
			continue
		}
		o := mixedOutcome(routes[rec.Route].deny, rec)
		rt := &out[rec.Route]
		rt.Requests++
		rt.Status.Add(int(rec.Code))
		rt.Outcomes[o]++
		m.Outcomes[o]++
		lats[rec.Route] = append(lats[rec.Route], rec.Latency)
		if !report.MixedExpected(o) {
			rt.Unexpected++
			m.Unexpected++
		}
		if report.MixedSerious(o) {
			m.Serious++
		}
		if o == report.MixedOutcomeAuthzFailure {
			m.AuthzFailures++
		}
	}
	for i := range out {
		out[i].Latency = report.Summarize(lats[i])
		if n := len(pr.Records); n > 0 {
			out[i].Share = report.Round3(float64(out[i].Requests) / float64(n))
		}
	}
	m.Routes = out
	return m
}

// mixedVerdict says what m means.
func mixedVerdict(m *report.Mixed, refreshes int) string {
	total := 0
	for _, n := range m.Outcomes {
		total += n
	}
	var serious []string
	for _, o := range []string{report.MixedOutcomeAuthzFailure, report.MixedOutcomeAfterRefresh, report.MixedOutcomeWronglyDenied} {
		if n := m.Outcomes[o]; n > 0 {
			serious = append(serious, fmt.Sprintf("%s %d", o, n))
		}
	}
	switch {
	case total == 0:
		return "No request was answered: nothing to judge."
	case m.AuthzFailures > 0:
		return fmt.Sprintf("**Serious: authorization failure.** A normal user got a 2xx on the admin path %d times (%s).", m.AuthzFailures, strings.Join(serious, ", "))
	case m.Serious > 0:
		return fmt.Sprintf("**Serious:** %s — requests that authentication or authorization should have served were refused.", strings.Join(serious, ", "))
	case m.Unexpected > 0:
		return fmt.Sprintf("%d of %d requests failed that should not have (see the outcomes); no authorization failure.", m.Unexpected, total)
	}
	return fmt.Sprintf("Every one of %d requests got the answer due: the admin path was refused to normal users and served to the administrator, %d refreshes and %d logout-then-login cycles broke nothing.", total, refreshes, m.Logouts)
}

func fmtPct(share float64) string { return fmt.Sprintf("%.3g", 100*share) }

func marginText(margin time.Duration) string {
	if margin <= 0 {
		return "off (no refresh tokens)"
	}
	return margin.String() + " before expiry"
}
