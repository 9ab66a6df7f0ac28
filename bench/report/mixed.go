package report

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Mixed is the result of the mixed scenario: realistic traffic (several
// paths, an administrator, refreshes ahead of expiry, logout-then-login
// cycles), each request classified against what it should have got.
type Mixed struct {
	Routes []MixedRoute `json:"routes"`
	// RefreshAheadS is the refresh-ahead margin (0: off, the strategy has
	// no refresh tokens); the refreshes are Scenario.Refreshes.
	RefreshAheadS float64 `json:"refresh_ahead_s"`
	// LogoutShare is the configured share of requests that are a
	// logout-then-login cycle; Logouts and LogoutFailures count the
	// cycles' logouts answered 2xx or not, CycleLogins the logins after
	// them (CycleLoginFailures: failed attempts).
	LogoutShare        float64     `json:"logout_share"`
	Logouts            int         `json:"logouts"`
	LogoutFailures     int         `json:"logout_failures"`
	CycleLogins        int         `json:"cycle_logins"`
	CycleLoginFailures int         `json:"cycle_login_failures"`
	CycleLoginLatency  Percentiles `json:"cycle_login_latency"`
	// Outcomes counts every request by its classification (MixedOutcome*).
	Outcomes map[string]int `json:"outcomes"`
	// Unexpected requests failed that should not have (every outcome but
	// ok, denied_as_expected and 401_after_own_logout); Serious are those
	// among them that break authentication or authorization itself.
	Unexpected int `json:"unexpected"`
	Serious    int `json:"serious"`
	// AuthzFailures: 2xx on the admin path for a normal user.
	AuthzFailures int      `json:"authz_failures"`
	Notes         []string `json:"notes,omitempty"`
	Verdict       string   `json:"verdict"`
}

// Outcomes of one request of the mixed scenario.
const (
	// Expected.
	MixedOutcomeOK             = "ok"                   // the answer the route should get
	MixedOutcomeDenied         = "denied_as_expected"   // 403 on the admin path for a normal user
	MixedOutcomeAfterOwnLogout = "401_after_own_logout" // sent before its user's logout, answered after it
	// Unexpected.
	MixedOutcomeSessionLost = "401_session_lost" // a login's credential rejected
	MixedOutcomeStoreDown   = "503_store_down"
	MixedOutcomeServer      = "5xx"
	MixedOutcomeTransport   = "transport"
	MixedOutcomeOther       = "other_status" // 404, 429, …
	// Unexpected and serious.
	MixedOutcomeAfterRefresh  = "401_after_refresh"  // a refreshed credential rejected
	MixedOutcomeWronglyDenied = "403_wrongly_denied" // 403 where access is due (admin on the admin path)
	MixedOutcomeAuthzFailure  = "authz_failure"      // 2xx on the admin path for a normal user
)

// MixedExpected reports whether outcome is an answer the request should
// get; MixedSerious whether it breaks authentication or authorization.
func MixedExpected(outcome string) bool {
	switch outcome {
	case MixedOutcomeOK, MixedOutcomeDenied, MixedOutcomeAfterOwnLogout:
		return true
	}
	return false
}

// MixedSerious reports whether outcome breaks authentication or
// authorization itself (not merely availability).
func MixedSerious(outcome string) bool {
	switch outcome {
	case MixedOutcomeAfterRefresh, MixedOutcomeWronglyDenied, MixedOutcomeAuthzFailure:
		return true
	}
	return false
}

// MixedRoute is one route of the mix: what was sent, by whom, what it
// should get, and what it got.
type MixedRoute struct {
	Name   string `json:"name"`
	Method string `json:"method"`
	Path   string `json:"path"`
	// As: "drawn user" (the load's users, --user-skew honoured) or a
	// fixed user's name.
	As string `json:"as"`
	// Expect is the answer due: "2xx" or "403".
	Expect string `json:"expect"`
	// Weight is the configured share of the requests, Share the share sent.
	Weight     float64        `json:"weight"`
	Share      float64        `json:"share"`
	Requests   int            `json:"requests"`
	Status     StatusClasses  `json:"status"`
	Latency    Percentiles    `json:"latency"`
	Unexpected int            `json:"unexpected"`
	Outcomes   map[string]int `json:"outcomes"`
}

// StatusClasses counts answers by status class; Transport had none.
type StatusClasses struct {
	S2xx      int `json:"2xx"`
	S3xx      int `json:"3xx"`
	S4xx      int `json:"4xx"`
	S5xx      int `json:"5xx"`
	Transport int `json:"transport"`
}

// Add counts one answer with status code (0: none).
func (c *StatusClasses) Add(code int) {
	switch {
	case code == 0:
		c.Transport++
	case code < 300:
		c.S2xx++
	case code < 400:
		c.S3xx++
	case code < 500:
		c.S4xx++
	default:
		c.S5xx++
	}
}

// outcomesText lists counts as "name n, …" in name order.
func outcomesText(m map[string]int) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// renderMixed writes the mixed scenario's per-route table and findings.
func renderMixed(b *strings.Builder, s *Scenario) {
	m := s.Mixed
	if m == nil {
		return
	}
	b.WriteString("**Mixed traffic.** Per route (latency from the intended send time):\n\n")
	b.WriteString("| route | request | as | expect | share | requests | 2xx | 3xx | 4xx | 5xx | no answer | p50 ms | p99 ms | unexpected |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range m.Routes {
		fmt.Fprintf(b, "| %s | %s %s | %s | %s | %s%% | %d | %d | %d | %d | %d | %d | %s | %s | %d |\n",
			r.Name, r.Method, r.Path, r.As, r.Expect, num(100*r.Share), r.Requests, r.Status.S2xx, r.Status.S3xx,
			r.Status.S4xx, r.Status.S5xx, r.Status.Transport, num(r.Latency.P50), num(r.Latency.P99), r.Unexpected)
	}
	b.WriteString("\n")
	refresh := "refresh-ahead off (the strategy has no refresh tokens)"
	if m.RefreshAheadS > 0 {
		refresh = fmt.Sprintf("access tokens refreshed ahead of expiry (margin %s s): %d, %d failed", num(m.RefreshAheadS), s.Refreshes, s.RefreshFailures)
	}
	fmt.Fprintf(b, "%s; logout-then-login cycles (%s%% of requests): %d logouts (%d failed), %d logins after them (%d failed attempts; p50 %s ms, p99 %s ms); re-logins after a lost session: %d.\n\n",
		upperFirst(refresh), num(100*m.LogoutShare), m.Logouts, m.LogoutFailures, m.CycleLogins, m.CycleLoginFailures,
		num(m.CycleLoginLatency.P50), num(m.CycleLoginLatency.P99), s.Relogins)
	fmt.Fprintf(b, "Outcomes: %s. Unexpected: %d (serious: %d; authorization failures: %d).\n\n",
		outcomesText(m.Outcomes), m.Unexpected, m.Serious, m.AuthzFailures)
	for _, n := range m.Notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	if len(m.Notes) > 0 {
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "%s\n\n", m.Verdict)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
