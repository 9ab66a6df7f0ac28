package load

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/load/loadtest"
)

// TestMixRoutesAndLogoutCycles: a mixed phase sends every route with the
// right user (the admin route by the extra admin user alone), its
// logout-then-login cycles log users out and in again without counting a
// session lost, and the admin path answers 403 to normal users.
func TestMixRoutesAndLogoutCycles(t *testing.T) {
	_, srv := loadtest.NewCluster(t, 2, true)
	d := newTestDriver(t, srv.URL, 20)
	admin := d.AddUser(loadtest.AdminUser, loadtest.Password)
	if again := d.AddUser(loadtest.AdminUser, loadtest.Password); again != admin || admin != 20 {
		t.Fatalf("AddUser = %d then %d, want 20 twice", admin, again)
	}
	if _, err := d.LogIn(context.Background(), admin); err != nil {
		t.Fatal(err)
	}
	mix := &Mix{Seed: 7, Routes: []Route{
		{Name: "me", Path: "/api/me", Weight: 60, User: DrawnUser},
		{Name: "orders", Path: "/api/orders", Weight: 20, User: DrawnUser},
		{Name: "admin", Path: loadtest.AdminPath, Weight: 10, User: admin},
		{Name: "admin-denied", Path: loadtest.AdminPath, Weight: 5, User: DrawnUser},
		{Name: "logout", Weight: 5, User: DrawnUser, Logout: true},
	}}
	pr, err := d.Run(context.Background(), Phase{Name: "mixed", Rate: 200, Duration: 2 * time.Second, Mix: mix})
	if err != nil {
		t.Fatal(err)
	}
	per := make([]int, len(mix.Routes))
	logoutOK := 0
	for _, r := range pr.Records {
		per[r.Route]++
		switch name := mix.Routes[r.Route].Name; {
		case name == "admin" && (r.User != admin || r.Code != http.StatusOK):
			t.Errorf("admin route by user %d answered %d", r.User, r.Code)
		case name != "admin" && r.User == admin:
			t.Errorf("route %s sent by the admin user, whom the picker never draws", name)
		case name == "admin-denied" && r.Code != http.StatusForbidden && r.Class != ClassUnauthorized:
			// (a 401 only to a credential its user had logged out meanwhile)
			t.Errorf("admin path for normal user %d answered %d (%v), want 403", r.User, r.Code, r.Class)
		case name == "logout" && r.Class == ClassOK:
			logoutOK++
		}
	}
	for i, n := range per {
		if n == 0 {
			t.Errorf("route %s never sent (%v)", mix.Routes[i].Name, per)
		}
	}
	s := pr.Summary()
	if s.SessionsLost != 0 || s.Errors.SessionLost != 0 {
		t.Errorf("sessions lost %d (errors %+v): a cycle's logout is no loss", s.SessionsLost, s.Errors)
	}
	if pr.Logouts != logoutOK || pr.Logouts != per[4] || pr.LogoutFailures != 0 {
		t.Errorf("logouts %d (failed %d), logout requests %d answered ok %d", pr.Logouts, pr.LogoutFailures, per[4], logoutOK)
	}
	if len(pr.CycleLogins) != pr.Logouts || pr.CycleLoginFailures != 0 {
		t.Errorf("cycle logins %d (failed %d) after %d logouts", len(pr.CycleLogins), pr.CycleLoginFailures, pr.Logouts)
	}
	if got := s.OK + s.Errors.Total(); got != s.Requests {
		t.Errorf("ok %d + errors %d != requests %d", s.OK, s.Errors.Total(), s.Requests)
	}
	if c := d.InstanceCounts(); c["gw1"]+c["gw2"] != 20 {
		t.Errorf("instance counts %v: want the 20 drawn users only", c)
	}
}

func TestMixValidate(t *testing.T) {
	me := Route{Name: "me", Path: "/api/me", Weight: 1, User: DrawnUser}
	bad := []struct {
		name string
		m    Mix
	}{
		{"empty", Mix{}},
		{"route 0 fixed user", Mix{Routes: []Route{{Name: "a", Path: "/a", Weight: 1, User: 0}}}},
		{"route 0 logout", Mix{Routes: []Route{{Name: "l", Weight: 1, User: DrawnUser, Logout: true}}}},
		{"zero weight", Mix{Routes: []Route{me, {Name: "o", Path: "/o", User: DrawnUser}}}},
		{"bad path", Mix{Routes: []Route{me, {Name: "o", Path: "o", Weight: 1, User: DrawnUser}}}},
		{"user out of range", Mix{Routes: []Route{me, {Name: "o", Path: "/o", Weight: 1, User: 3}}}},
		{"fixed-user logout", Mix{Routes: []Route{me, {Name: "l", Weight: 1, User: 0, Logout: true}}}},
	}
	for _, tc := range bad {
		if err := tc.m.validate(3); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	ok := Mix{Routes: []Route{me, {Name: "l", Weight: 1, User: DrawnUser, Logout: true}, {Name: "a", Path: "/a", Weight: 1, User: 2}}}
	if err := ok.validate(3); err != nil {
		t.Errorf("valid mix refused: %v", err)
	}
}

// TestMixDrawFollowsWeights: the draw's shares are the weights' (a
// statistical bound over 20000 seeded draws, not a timing).
func TestMixDrawFollowsWeights(t *testing.T) {
	md := newMixDraw(&Mix{Seed: 1, Routes: []Route{{Weight: 70}, {Weight: 25}, {Weight: 5}}})
	counts := make([]int, 3)
	const n = 20000
	for range n {
		counts[md.draw()]++
	}
	for i, want := range []float64{0.70, 0.25, 0.05} {
		if got := float64(counts[i]) / n; got < want-0.015 || got > want+0.015 {
			t.Errorf("route %d share %.3f, want %.2f", i, got, want)
		}
	}
}
