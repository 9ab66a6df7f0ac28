package load

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// DrawnUser, as a Route's User, is the user the picker draws for the
// request (round-robin or Zipf, Config.Skew).
const DrawnUser = -1

// Route is one kind of request of a Mix.
type Route struct {
	// Name labels the route in records (Record.Route indexes Mix.Routes)
	// and reports.
	Name string
	// Path is the GET request's path (unused by a Logout route).
	Path string
	// Weight is the route's share of the requests relative to the others'
	// (> 0).
	Weight float64
	// User sends the route's requests: DrawnUser, or a user's index (an
	// extra user from AddUser, whom the picker never draws). When that user
	// is busy (logging in again, or waiting for the refresh of an expired
	// token) the request goes to route 0 instead.
	User int
	// Logout makes the request POST /auth/logout by the drawn user (route
	// 0 instead while that user's refresh runs), who
	// then drops its credential whatever the answer and logs in again in
	// the background: a logout-then-login cycle, counted apart from
	// re-logins. A 401 to one of its requests sent before the logout is
	// not a session lost (ClassUnauthorized: it was logged out).
	Logout bool
}

// Mix is a phase's traffic: each request is one route drawn by weight
// from a generator seeded with Seed.
type Mix struct {
	Routes []Route
	Seed   uint64
}

// validate checks m against a driver of users users (extras included).
func (m *Mix) validate(users int) error {
	if len(m.Routes) == 0 {
		return errors.New("mix: no route")
	}
	if r := m.Routes[0]; r.User != DrawnUser || r.Logout {
		return fmt.Errorf("mix: route 0 (%s) must be a request of the drawn user (it takes the slot of a busy fixed user)", r.Name)
	}
	for _, r := range m.Routes {
		switch {
		case !(r.Weight > 0):
			return fmt.Errorf("mix: route %s: weight %v, want > 0", r.Name, r.Weight)
		case !r.Logout && (!strings.HasPrefix(r.Path, "/") || strings.Contains(r.Path, "#")):
			return fmt.Errorf("mix: route %s: path %q must start with / and hold no fragment", r.Name, r.Path)
		case r.User != DrawnUser && (r.User < 0 || r.User >= users):
			return fmt.Errorf("mix: route %s: user %d out of range (%d users)", r.Name, r.User, users)
		case r.Logout && r.User != DrawnUser:
			return fmt.Errorf("mix: route %s: a logout cycle is the drawn user's", r.Name)
		}
	}
	return nil
}

// mixDraw draws a phase's routes.
type mixDraw struct {
	routes []Route
	cum    []float64
	rng    *rand.Rand
}

func newMixDraw(m *Mix) *mixDraw {
	md := &mixDraw{routes: m.Routes, rng: rand.New(rand.NewPCG(m.Seed, m.Seed^0x6a09e667f3bcc909))}
	total := 0.0
	for _, r := range m.Routes {
		total += r.Weight
		md.cum = append(md.cum, total)
	}
	return md
}

// draw returns the index of the next request's route.
func (md *mixDraw) draw() int {
	x := md.rng.Float64() * md.cum[len(md.cum)-1]
	for i, c := range md.cum {
		if x < c {
			return i
		}
	}
	return len(md.cum) - 1
}

// AddUser adds a user the picker never draws (an administrator a Mix
// route names), logged out, and returns its index; a user of that name
// already added is returned again. Not during a phase.
func (d *Driver) AddUser(name, password string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, u := range d.users {
		if u.name == name {
			return i
		}
	}
	d.users = append(d.users, &user{name: name, password: password})
	return len(d.users) - 1
}

// cycleLogout handles the answer to user idx's logout (a Logout route): the
// logout is counted, the user forgets its credential and logs in again in
// the background. Called with d.mu held.
func (d *Driver) cycleLogout(ctx context.Context, wg *sync.WaitGroup, idx int, ok bool, pr *PhaseResult) {
	if ok {
		pr.Logouts++
	} else {
		pr.LogoutFailures++
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.logInAgain(ctx, idx, &pr.CycleLogins, &pr.CycleLoginFailures, func(u *user) { u.cycling = false })
	}()
}

// logInAgain logs user idx in, retrying briefly; under d.mu it appends the
// latency of the login that worked to *lats, counts the failed attempts in
// *fails and calls done once, when the user is logged in or given up on.
func (d *Driver) logInAgain(ctx context.Context, idx int, lats *[]time.Duration, fails *int, done func(*user)) {
	for attempt := 0; ; attempt++ {
		lat, err := d.LogIn(ctx, idx)
		d.mu.Lock()
		if err == nil {
			*lats = append(*lats, lat)
			done(d.users[idx])
			d.mu.Unlock()
			return
		}
		*fails++
		if attempt >= 20 || ctx.Err() != nil {
			done(d.users[idx])
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
