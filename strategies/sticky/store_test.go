package sticky

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/internal/sessionutil"
)

func principal(user string) identity.Principal {
	return identity.Principal{User: user, Roles: []string{"user"}}
}

func authOK(t *testing.T, s *Strategy, c strategies.Credential) bool {
	t.Helper()
	_, err := s.Authenticate(context.Background(), c.Token)
	if err != nil && !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("Authenticate: unexpected error %v", err)
	}
	return err == nil
}

// TestIdleTimeoutSlides: every use pushes the idle deadline back (the
// session outlives IdleTTL counted from its creation), a sweep whose heap
// entry came due re-files a used session instead of deleting it, and a
// session left unused for IdleTTL is gone, on lookup and for the sweeper.
func TestIdleTimeoutSlides(t *testing.T) {
	clk := newClock()
	s := newStrategy(t, Config{TTL: time.Hour, IdleTTL: 10 * time.Minute, Now: clk.Now, SweepInterval: time.Hour})
	c := login(t, s, alice)
	idle := login(t, s, principal("bob")) // never used after login
	for i := range 5 {                    // 5×9 min = 45 min, far beyond 10 min idle
		clk.Advance(9 * time.Minute)
		if i == 1 {
			// bob's session idled out at +10 min; alice's heap entry (filed
			// for +10 min) is due too but she used it at +9 min.
			if n := s.Store().Sweep(); n != 1 {
				t.Fatalf("Sweep at +18 min removed %d sessions, want 1 (bob's idle one)", n)
			}
		}
		if n := s.Store().Sweep(); n != 0 {
			t.Fatalf("step %d: Sweep removed %d sessions in use", i, n)
		}
		if !authOK(t, s, c) {
			t.Fatalf("step %d (+%v): session in use expired: the idle timeout does not slide", i, time.Duration(i+1)*9*time.Minute)
		}
	}
	if authOK(t, s, idle) {
		t.Fatal("session unused for more than IdleTTL still accepted")
	}
	clk.Advance(10 * time.Minute)
	if n := s.Store().Sweep(); n != 1 {
		t.Fatalf("Sweep after 10 idle minutes removed %d, want 1", n)
	}
	if authOK(t, s, c) || s.SessionCount() != 0 {
		t.Fatalf("idle session survives: count %d", s.SessionCount())
	}
	checkInvariants(t, s.Store())
}

// TestAbsoluteLifetimeUnderContinuousUse: a session used every minute
// still ends at TTL.
func TestAbsoluteLifetimeUnderContinuousUse(t *testing.T) {
	clk := newClock()
	s := newStrategy(t, Config{TTL: time.Hour, IdleTTL: 5 * time.Minute, Now: clk.Now, SweepInterval: time.Hour})
	c := login(t, s, alice)
	for m := 1; m < 60; m++ {
		clk.Advance(time.Minute)
		if !authOK(t, s, c) {
			t.Fatalf("rejected at +%d min", m)
		}
	}
	clk.Advance(time.Minute)
	if authOK(t, s, c) {
		t.Fatal("session used continuously outlived its absolute TTL")
	}
}

// TestMaxSessionsPerUser: a user logging in cap+k times keeps exactly cap
// sessions, the oldest k gone; other users' sessions are untouched.
func TestMaxSessionsPerUser(t *testing.T) {
	tests := []struct {
		cap, k int
		cfgCap int // 0: the default
	}{
		{cap: 1, k: 1, cfgCap: 1},
		{cap: 3, k: 2, cfgCap: 3},
		{cap: 5, k: 7, cfgCap: 5},
		{cap: DefaultMaxSessionsPerUser, k: 3},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("cap=%d,k=%d", tc.cap, tc.k), func(t *testing.T) {
			clk := newClock()
			s := newStrategy(t, Config{MaxSessionsPerUser: tc.cfgCap, Now: clk.Now, SweepInterval: time.Hour})
			others := []strategies.Credential{login(t, s, principal("bob")), login(t, s, principal("carol"))}
			var mine []strategies.Credential
			for i := range tc.cap + tc.k {
				clk.Advance(time.Second)
				mine = append(mine, login(t, s, alice))
				if i == tc.cap/2 {
					others = append(others, login(t, s, principal("dave")))
				}
			}
			for i, c := range mine {
				if got, want := authOK(t, s, c), i >= tc.k; got != want {
					t.Errorf("alice's session %d of %d: accepted = %v, want %v", i, len(mine), got, want)
				}
			}
			for i, c := range others {
				if !authOK(t, s, c) {
					t.Errorf("other user's session %d evicted", i)
				}
			}
			if got, want := s.SessionCount(), tc.cap+len(others); got != want {
				t.Errorf("SessionCount = %d, want %d", got, want)
			}
			checkInvariants(t, s.Store())
		})
	}
}

// TestPerUserCapIgnoresExpired: sessions that expired (not yet swept) do
// not count toward the cap, so a live older session is not evicted for them.
func TestPerUserCapIgnoresExpired(t *testing.T) {
	clk := newClock()
	s := newStrategy(t, Config{TTL: time.Hour, IdleTTL: 10 * time.Minute, MaxSessionsPerUser: 2, Now: clk.Now, SweepInterval: time.Hour})
	a := login(t, s, alice)
	clk.Advance(time.Minute)
	b := login(t, s, alice) // will idle out
	clk.Advance(8 * time.Minute)
	if !authOK(t, s, a) { // a now lives until +19 min
		t.Fatal("a rejected")
	}
	clk.Advance(3 * time.Minute) // +12: b idled out at +11
	c := login(t, s, alice)
	if !authOK(t, s, a) {
		t.Fatal("live session a evicted although b, expired, made room")
	}
	if authOK(t, s, b) || !authOK(t, s, c) || s.SessionCount() != 2 {
		t.Fatalf("b accepted or c rejected; count %d", s.SessionCount())
	}
	checkInvariants(t, s.Store())
}

// TestFullStoreRefusesNewUsers: at MaxSessions a user at their cap replaces
// their own oldest session, while another user's login is refused with
// ErrFull and nobody else's session is evicted.
func TestFullStoreRefusesNewUsers(t *testing.T) {
	clk := newClock()
	s := newStrategy(t, Config{MaxSessions: 4, MaxSessionsPerUser: 2, Now: clk.Now, SweepInterval: time.Hour})
	bob := []strategies.Credential{login(t, s, principal("bob")), login(t, s, principal("bob"))}
	a1, a2 := login(t, s, alice), login(t, s, alice)
	a3 := login(t, s, alice) // full, but alice is at her cap: her oldest goes
	if authOK(t, s, a1) || !authOK(t, s, a2) || !authOK(t, s, a3) {
		t.Fatal("alice's sessions: want a1 evicted, a2 and a3 live")
	}
	if _, err := s.Login(context.Background(), principal("carol")); !errors.Is(err, ErrFull) {
		t.Fatalf("carol on a full store: err = %v, want ErrFull", err)
	}
	for i, c := range bob {
		if !authOK(t, s, c) {
			t.Fatalf("bob's session %d evicted", i)
		}
	}
	if s.SessionCount() != 4 {
		t.Fatalf("SessionCount = %d, want 4", s.SessionCount())
	}
	checkInvariants(t, s.Store())
}

// TestSecureCookie: with Secure the store and the strategy use the __Host-
// cookie: prefixed name, Secure, Path=/, no Domain; an unprefixed cookie is
// not read.
func TestSecureCookie(t *testing.T) {
	s := newStrategy(t, Config{CookieName: "sid", Secure: true})
	if got := s.Capabilities().CookieName; got != "__Host-sid" {
		t.Fatalf("CookieName = %q, want __Host-sid", got)
	}
	st := s.Store()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	sess, err := st.Get(r, "sid")
	if err != nil {
		t.Fatal(err)
	}
	sessionutil.SetPrincipal(sess.Values, alice)
	sess.Options.Domain = "example.com" // a caller's mistake the store must override
	if err := sessions.Save(r, rec); err != nil {
		t.Fatal(err)
	}
	raw := rec.Header().Get("Set-Cookie")
	c := rec.Result().Cookies()[0]
	if c.Name != "__Host-sid" || !c.Secure || c.Path != "/" || c.Domain != "" || strings.Contains(strings.ToLower(raw), "domain") {
		t.Fatalf("Set-Cookie %q", raw)
	}
	for name, want := range map[string]bool{"__Host-sid": true, "sid": false} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: name, Value: c.Value})
		got, err := st.New(r, "sid")
		if err != nil || got.IsNew == want {
			t.Errorf("cookie %s: IsNew = %v, %v; want found = %v", name, got.IsNew, err, want)
		}
	}
}

// checkInvariants verifies the store's structures agree: every shard's heap
// holds exactly its map's entries, in heap order, with right indexes; every
// entry is on its user's list once; counts match.
func checkInvariants(t *testing.T, st *Store) {
	t.Helper()
	total := 0
	live := map[*entry]bool{}
	for i := range st.shards {
		sh := &st.shards[i]
		sh.mu.RLock()
		if len(sh.h) != len(sh.m) {
			t.Errorf("shard %d: heap %d entries, map %d", i, len(sh.h), len(sh.m))
		}
		for j, e := range sh.h {
			if e.hidx != j || sh.m[e.key] != e || e.dead.Load() {
				t.Errorf("shard %d: heap[%d] hidx %d, in map %v, dead %v", i, j, e.hidx, sh.m[e.key] == e, e.dead.Load())
			}
			if j > 0 && sh.h[(j-1)/2].sched > e.sched {
				t.Errorf("shard %d: heap order broken at %d", i, j)
			}
			if e.sched > st.deadline(e) {
				t.Errorf("shard %d: entry filed after its deadline", i)
			}
			if st.shardOf(e.key) != sh {
				t.Errorf("entry in the wrong shard")
			}
			live[e] = true
		}
		total += len(sh.m)
		sh.mu.RUnlock()
	}
	if got := st.Len(); got != total {
		t.Errorf("Len() = %d, shards hold %d", got, total)
	}
	linked := 0
	for i := range st.users {
		us := &st.users[i]
		us.mu.Lock()
		for user, l := range us.m {
			n := 0
			var prev *entry
			for e := l.head; e != nil; e = e.next {
				if e.user != user || !e.linked || e.prev != prev || !live[e] {
					t.Errorf("user %s: bad list entry (user %s, linked %v, live %v)", user, e.user, e.linked, live[e])
				}
				if prev != nil && prev.created > e.created {
					t.Errorf("user %s: list not oldest first", user)
				}
				prev = e
				n++
			}
			if n != l.n || l.tail != prev || n == 0 || n > st.perUser {
				t.Errorf("user %s: list of %d entries, n %d, cap %d", user, n, l.n, st.perUser)
			}
			linked += n
		}
		us.mu.Unlock()
	}
	if linked != total {
		t.Errorf("user lists hold %d entries, shards %d", linked, total)
	}
}

// model is the naive reference the store is checked against: a list of
// sessions scanned on every operation.
type model struct {
	ttl, idle    time.Duration
	max, perUser int
	sessions     []*modelSession // creation order
}

type modelSession struct {
	token, user        string
	created, last      time.Time
	removed, wasIssued bool
}

func (m *model) expired(ms *modelSession, now time.Time) bool {
	return !now.Before(ms.created.Add(m.ttl)) || !now.Before(ms.last.Add(m.idle))
}

func (m *model) count() int {
	n := 0
	for _, ms := range m.sessions {
		if !ms.removed {
			n++
		}
	}
	return n
}

func (m *model) sweep(now time.Time) int {
	n := 0
	for _, ms := range m.sessions {
		if !ms.removed && m.expired(ms, now) {
			ms.removed = true
			n++
		}
	}
	return n
}

func (m *model) login(user string, now time.Time) error {
	if m.count() >= m.max {
		m.sweep(now)
	}
	var mine []*modelSession
	for _, ms := range m.sessions {
		if !ms.removed && ms.user == user {
			mine = append(mine, ms)
		}
	}
	if len(mine) < m.perUser {
		mine = nil // below the cap: nothing to prune or evict
	}
	live := mine[:0]
	for _, ms := range mine {
		if m.expired(ms, now) {
			ms.removed = true
			continue
		}
		live = append(live, ms)
	}
	mine = live
	for len(mine) >= m.perUser {
		mine[0].removed = true
		mine = mine[1:]
	}
	if m.count() >= m.max {
		return ErrFull
	}
	return nil
}

func (m *model) find(token string) *modelSession {
	for _, ms := range m.sessions {
		if ms.token == token && !ms.removed {
			return ms
		}
	}
	return nil
}

// TestAgainstModel runs random logins, authentications, logouts, clock
// steps and sweeps against the store and the naive model; results, counts
// and the store's invariants must agree at every step.
func TestAgainstModel(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			clk := newClock()
			cfg := Config{TTL: time.Hour, IdleTTL: 15 * time.Minute, MaxSessions: 24, MaxSessionsPerUser: 3, Now: clk.Now, SweepInterval: time.Hour}
			s := newStrategy(t, cfg)
			m := &model{ttl: cfg.TTL, idle: cfg.IdleTTL, max: cfg.MaxSessions, perUser: cfg.MaxSessionsPerUser}
			var tokens []string
			ctx := context.Background()
			for step := range 3000 {
				now := clk.Now()
				switch op := rng.IntN(10); {
				case op < 3:
					user := fmt.Sprintf("u%d", rng.IntN(12))
					c, err := s.Login(ctx, principal(user))
					if want := m.login(user, now); !errors.Is(err, want) && (want != nil || err != nil) {
						t.Fatalf("step %d: Login(%s) err = %v, model %v", step, user, err, want)
					}
					if err == nil {
						m.sessions = append(m.sessions, &modelSession{token: c.Token, user: user, created: now, last: now})
						tokens = append(tokens, c.Token)
					}
				case op < 7 && len(tokens) > 0:
					tok := tokens[rng.IntN(len(tokens))]
					p, err := s.Authenticate(ctx, tok)
					ms := m.find(tok)
					if ms != nil && m.expired(ms, now) {
						ms.removed = true
						ms = nil
					}
					switch {
					case ms == nil && err == nil:
						t.Fatalf("step %d: store accepted a session the model dropped", step)
					case ms != nil && (err != nil || p.User != ms.user):
						t.Fatalf("step %d: store rejected a live session of %s: %+v, %v", step, ms.user, p, err)
					case ms != nil:
						ms.last = now
					}
				case op < 8 && len(tokens) > 0:
					tok := tokens[rng.IntN(len(tokens))]
					if err := s.Logout(ctx, tok); err != nil {
						t.Fatal(err)
					}
					if ms := m.find(tok); ms != nil {
						ms.removed = true
					}
				case op < 9:
					clk.Advance(time.Duration(rng.IntN(8*60)) * time.Second)
				default:
					if got, want := s.Store().Sweep(), m.sweep(now); got != want {
						t.Fatalf("step %d: Sweep() = %d, model %d", step, got, want)
					}
				}
				if got, want := s.SessionCount(), m.count(); got != want {
					t.Fatalf("step %d: SessionCount = %d, model %d", step, got, want)
				}
				if step%100 == 0 {
					checkInvariants(t, s.Store())
				}
			}
			checkInvariants(t, s.Store())
		})
	}
}

// TestConcurrentUse: logins (one hot user and many), lookups, logouts and
// sweeps at once leave consistent structures and no user above the cap.
func TestConcurrentUse(t *testing.T) {
	clk := newClock()
	s := newStrategy(t, Config{TTL: time.Hour, IdleTTL: 10 * time.Minute, MaxSessions: 500, MaxSessionsPerUser: 4, Now: clk.Now, SweepInterval: time.Hour})
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var mine []string
			for i := range 300 {
				user := "hot"
				if i%2 == 1 {
					user = fmt.Sprintf("u%d-%d", g, i%40)
				}
				c, err := s.Login(ctx, principal(user))
				if err != nil && !errors.Is(err, ErrFull) {
					t.Error(err)
					return
				}
				if err == nil {
					mine = append(mine, c.Token)
				}
				if len(mine) > 0 {
					_, _ = s.Authenticate(ctx, mine[i%len(mine)])
				}
				switch i % 50 {
				case 10:
					_ = s.Logout(ctx, mine[0])
				case 20:
					s.Store().Sweep()
				case 30:
					clk.Advance(time.Minute)
				}
			}
		})
	}
	wg.Wait()
	checkInvariants(t, s.Store())
}
