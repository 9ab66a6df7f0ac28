package scenario

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/load/loadtest"
	"github.com/authlab/authlab/bench/report"
)

func TestMixedOutcome(t *testing.T) {
	tests := []struct {
		name string
		deny bool
		rec  load.Record
		want string
	}{
		{"served", false, load.Record{Code: 200, Class: load.ClassOK}, report.MixedOutcomeOK},
		{"logout answered", false, load.Record{Code: 204, Class: load.ClassOK}, report.MixedOutcomeOK},
		{"admin path refused to a normal user", true, load.Record{Code: 403, Class: load.ClassOther}, report.MixedOutcomeDenied},
		{"admin path served to a normal user", true, load.Record{Code: 200, Class: load.ClassOK}, report.MixedOutcomeAuthzFailure},
		{"admin path redirect for a normal user", true, load.Record{Code: 302, Class: load.ClassOK}, report.MixedOutcomeAuthzFailure},
		{"admin path refused to the administrator", false, load.Record{Code: 403, Class: load.ClassOther}, report.MixedOutcomeWronglyDenied},
		{"401 to a refreshed credential", false, load.Record{Code: 401, Class: load.ClassSessionLost, Refreshed: true}, report.MixedOutcomeAfterRefresh},
		{"401 to a login's credential", false, load.Record{Code: 401, Class: load.ClassSessionLost}, report.MixedOutcomeSessionLost},
		{"401 to a logged-out credential", false, load.Record{Code: 401, Class: load.ClassUnauthorized, Refreshed: true}, report.MixedOutcomeAfterOwnLogout},
		{"401 on the admin path for a normal user", true, load.Record{Code: 401, Class: load.ClassSessionLost}, report.MixedOutcomeSessionLost},
		{"store down", false, load.Record{Code: 503, Class: load.ClassStoreDown}, report.MixedOutcomeStoreDown},
		{"lb 502", false, load.Record{Code: 502, Class: load.ClassServer}, report.MixedOutcomeServer},
		{"no answer", true, load.Record{Class: load.ClassTransport}, report.MixedOutcomeTransport},
		{"not found", false, load.Record{Code: 404, Class: load.ClassOther}, report.MixedOutcomeOther},
		{"throttled", false, load.Record{Code: 429, Class: load.ClassOther}, report.MixedOutcomeOther},
	}
	for _, tc := range tests {
		got := mixedOutcome(tc.deny, tc.rec)
		if got != tc.want {
			t.Errorf("%s: mixedOutcome = %s, want %s", tc.name, got, tc.want)
		}
		wantExpected := tc.want == report.MixedOutcomeOK || tc.want == report.MixedOutcomeDenied || tc.want == report.MixedOutcomeAfterOwnLogout
		if report.MixedExpected(got) != wantExpected {
			t.Errorf("%s: expected(%s) = %v", tc.name, got, !wantExpected)
		}
	}
}

// TestMixedFindingsFlagsAnAuthorizationFailure: one 200 to a normal user on
// the admin path makes the verdict an authorization failure, counted on
// its route.
func TestMixedFindingsFlagsAnAuthorizationFailure(t *testing.T) {
	routes := []mixedRoute{
		{Route: load.Route{Name: "me", Path: "/api/me", Weight: 0.9}},
		{Route: load.Route{Name: "admin-as-user", Path: "/api/admin/stats", Weight: 0.1}, deny: true},
	}
	pr := &load.PhaseResult{Records: []load.Record{
		{Route: 0, Code: 200, Class: load.ClassOK, Latency: time.Millisecond},
		{Route: 1, Code: 403, Class: load.ClassOther, Latency: time.Millisecond},
		{Route: 1, Code: 200, Class: load.ClassOK, Latency: time.Millisecond},
	}}
	m := mixedFindings(routes, pr)
	m.Verdict = mixedVerdict(m, 0)
	if m.AuthzFailures != 1 || m.Serious != 1 || m.Unexpected != 1 || m.Routes[1].Unexpected != 1 || m.Routes[0].Unexpected != 0 {
		t.Errorf("findings %+v", m)
	}
	if m.Routes[1].Status.S2xx != 1 || m.Routes[1].Status.S4xx != 1 || m.Routes[1].Requests != 2 || m.Routes[0].Weight != 0.9 {
		t.Errorf("route %+v", m.Routes[1])
	}
	if !strings.Contains(m.Verdict, "authorization failure") {
		t.Errorf("verdict %q", m.Verdict)
	}
}

// TestMixedScenario: against the fake cluster with 3 s tokens and an
// administrator, every route is sent and answered as due, tokens are
// refreshed ahead of expiry and users log out and in again, and nothing is
// unexpected.
func TestMixedScenario(t *testing.T) {
	cl, srv := loadtest.NewCluster(t, 2, false)
	cl.SetAccessTTL(3 * time.Second)
	d, err := load.New(load.Config{BaseURL: srv.URL, Users: 20, Password: loadtest.Password})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.LoginAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Strategy: "jwt", Users: 20, Rate: 100, Duration: 4 * time.Second, MixedLogoutShare: 0.05, MixedRefreshAhead: 1500 * time.Millisecond}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	env := &Env{Config: cfg, Driver: d, Gateways: &fakeGateways{cl: cl, url: srv.URL, n: 2},
		AdminUser: loadtest.AdminUser, AdminPassword: loadtest.Password}
	s, err := Mixed{}.Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	m := s.Mixed
	if m == nil || len(m.Routes) != 5 {
		t.Fatalf("mixed = %+v", m)
	}
	for _, r := range m.Routes {
		if r.Requests == 0 {
			t.Errorf("route %s never sent", r.Name)
		}
	}
	if admin := m.Routes[2]; admin.Name != "admin" || admin.As != loadtest.AdminUser || admin.Status.S2xx == 0 || admin.Outcomes[report.MixedOutcomeWronglyDenied] != 0 {
		t.Errorf("admin route %+v", admin)
	}
	if denied := m.Routes[3]; denied.Name != "admin-as-user" || denied.Outcomes[report.MixedOutcomeDenied] == 0 || denied.Status.S2xx != 0 {
		t.Errorf("admin-as-user route %+v", denied)
	}
	if m.AuthzFailures != 0 || m.Outcomes[report.MixedOutcomeWronglyDenied] != 0 {
		t.Errorf("authorization broken: outcomes %v", m.Outcomes)
	}
	// A token can only expire in flight when a request takes longer than
	// the margin: on a machine that slow (other test binaries, the race
	// detector) the strict check says nothing about the code.
	if s.Latency.Max < 1000 {
		if m.Unexpected != 0 || m.Serious != 0 || !strings.HasPrefix(m.Verdict, "Every one") {
			t.Errorf("unexpected %d, serious %d, outcomes %v, verdict %q", m.Unexpected, m.Serious, m.Outcomes, m.Verdict)
		}
	} else {
		t.Logf("machine overloaded (max latency %.0f ms): expiry in flight possible, strict check skipped; outcomes %v", s.Latency.Max, m.Outcomes)
	}
	if s.Refreshes == 0 || s.RefreshFailures != 0 || m.RefreshAheadS != 1.5 {
		t.Errorf("refreshes %d (failed %d), margin %v s", s.Refreshes, s.RefreshFailures, m.RefreshAheadS)
	}
	if m.Logouts == 0 || m.LogoutFailures != 0 || m.CycleLogins != m.Logouts || m.LogoutShare != 0.05 {
		t.Errorf("logouts %d (failed %d), cycle logins %d, share %v", m.Logouts, m.LogoutFailures, m.CycleLogins, m.LogoutShare)
	}
	var b strings.Builder
	renderMixedForTest(&b, &s)
	for _, want := range []string{"| admin | GET /api/admin/stats | admin | 2xx |", "| admin-as-user | GET /api/admin/stats | drawn user | 403 |", "refreshed ahead of expiry"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// renderMixedForTest renders s the way report.md does.
func renderMixedForTest(b *strings.Builder, s *report.Scenario) {
	r := &report.Report{Scenarios: []report.Scenario{*s}}
	_ = report.RenderMarkdown(b, r)
}
