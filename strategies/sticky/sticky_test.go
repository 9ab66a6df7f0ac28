package sticky

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/internal/sessionutil"
	"github.com/authlab/authlab/strategies/strategytest"
)

var alice = identity.Principal{User: "alice", Roles: []string{"user"}}

var testKey = bytes.Repeat([]byte("k"), 32)

// clock is a manually advanced clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newStrategy(t testing.TB, cfg Config) *Strategy {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func login(t testing.TB, s *Strategy, p identity.Principal) strategies.Credential {
	t.Helper()
	c, err := s.Login(context.Background(), p)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	return c
}

func TestConformance(t *testing.T) {
	strategytest.Run(t, func(t *testing.T) strategies.Strategy {
		return newStrategy(t, Config{FingerprintKey: testKey})
	})
}

func TestCapabilities(t *testing.T) {
	s := newStrategy(t, Config{})
	want := strategies.Capabilities{
		Transport: strategies.TransportCookie, CookieName: "authlab_session",
		Authenticates: true, RevokesImmediately: true, NeedsSticky: true,
	}
	if got := s.Capabilities(); got != want {
		t.Fatalf("Capabilities = %+v, want %+v", got, want)
	}
	if s.Name() != "sticky" {
		t.Fatalf("Name = %q", s.Name())
	}
	if got := newStrategy(t, Config{CookieName: "sid"}).Capabilities().CookieName; got != "sid" {
		t.Fatalf("CookieName = %q, want sid", got)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"zero is valid", Config{}, false},
		{"full", Config{CookieName: "sid", TTL: time.Hour, IdleTTL: time.Minute, MaxSessions: 10, FingerprintKey: testKey, SweepInterval: time.Second}, false},
		{"bad cookie name", Config{CookieName: "a b"}, true},
		{"negative TTL", Config{TTL: -time.Second}, true},
		{"sub-second TTL", Config{TTL: time.Millisecond}, true},
		{"negative IdleTTL", Config{IdleTTL: -1}, true},
		{"IdleTTL above TTL", Config{TTL: time.Minute, IdleTTL: time.Hour}, true},
		{"IdleTTL above default TTL", Config{IdleTTL: 13 * time.Hour}, true},
		{"negative MaxSessions", Config{MaxSessions: -1}, true},
		{"short key", Config{FingerprintKey: []byte("short")}, true},
		{"negative sweep", Config{SweepInterval: -1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tc.wantErr)
			}
			s, nerr := New(tc.cfg)
			if (nerr != nil) != tc.wantErr {
				t.Fatalf("New() err = %v, wantErr %v", nerr, tc.wantErr)
			}
			if s != nil {
				_ = s.Close()
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		steps []time.Duration // advance, then authenticate (must succeed) ...
		final time.Duration   // ... advance, then authenticate (must fail)
	}{
		{"absolute TTL", Config{TTL: time.Hour}, []time.Duration{59 * time.Minute}, time.Minute},
		{"absolute TTL despite activity", Config{TTL: time.Hour, IdleTTL: 30 * time.Minute},
			[]time.Duration{20 * time.Minute, 20 * time.Minute, 19 * time.Minute}, time.Minute},
		{"idle TTL", Config{TTL: time.Hour, IdleTTL: 10 * time.Minute},
			[]time.Duration{9 * time.Minute, 9 * time.Minute}, 10 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			cfg := tc.cfg
			cfg.Now = clk.Now
			cfg.SweepInterval = time.Hour // sweeps are driven by hand
			s := newStrategy(t, cfg)
			c := login(t, s, alice)
			if want := clk.Now().Add(cfg.TTL); !c.ExpiresAt.Equal(want) {
				t.Fatalf("ExpiresAt = %v, want %v", c.ExpiresAt, want)
			}
			for i, d := range tc.steps {
				clk.Advance(d)
				if _, err := s.Authenticate(context.Background(), c.Token); err != nil {
					t.Fatalf("step %d (+%v): %v", i, d, err)
				}
			}
			// A second session, created late, must survive the sweep.
			late := login(t, s, alice)
			clk.Advance(tc.final / 2)
			if _, err := s.Authenticate(context.Background(), late.Token); err != nil {
				t.Fatalf("late session: %v", err)
			}
			clk.Advance(tc.final - tc.final/2)
			if n := s.Store().Sweep(); n != 1 {
				t.Fatalf("Sweep() = %d, want 1", n)
			}
			if _, err := s.Authenticate(context.Background(), c.Token); !errors.Is(err, strategies.ErrInvalidCredential) {
				t.Fatalf("expired session: err = %v, want ErrInvalidCredential", err)
			}
			if _, err := s.Authenticate(context.Background(), late.Token); err != nil {
				t.Fatalf("fresh session swept: %v", err)
			}
			if got := s.SessionCount(); got != 1 {
				t.Fatalf("SessionCount = %d, want 1", got)
			}
		})
	}
}

func TestExpiredWithoutSweep(t *testing.T) {
	clk := newClock()
	s := newStrategy(t, Config{TTL: time.Minute, Now: clk.Now, SweepInterval: time.Hour})
	c := login(t, s, alice)
	clk.Advance(time.Minute)
	if _, err := s.Authenticate(context.Background(), c.Token); !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("err = %v, want ErrInvalidCredential", err)
	}
	if got := s.SessionCount(); got != 0 {
		t.Fatalf("expired session found on lookup must be dropped, SessionCount = %d", got)
	}
}

func TestSweeperGoroutine(t *testing.T) {
	clk := newClock()
	s := newStrategy(t, Config{TTL: time.Second, Now: clk.Now, SweepInterval: time.Millisecond})
	login(t, s, alice)
	clk.Advance(time.Second)
	// Readiness poll: the background sweeper removes the expired session.
	deadline := time.Now().Add(5 * time.Second)
	for s.SessionCount() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("sweeper did not remove the expired session")
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // idempotent, returns (goroutine gone)
		t.Fatal(err)
	}
	login(t, s, alice) // still usable after Close, just unswept
	clk.Advance(time.Second)
	if got := s.SessionCount(); got != 1 {
		t.Fatalf("SessionCount after Close = %d, want 1 (no sweeper)", got)
	}
}

func TestMaxSessionsRefuses(t *testing.T) {
	clk := newClock()
	s := newStrategy(t, Config{TTL: time.Hour, MaxSessions: 3, Now: clk.Now, SweepInterval: time.Hour})
	var creds []strategies.Credential
	for range 3 {
		creds = append(creds, login(t, s, alice))
	}
	_, err := s.Login(context.Background(), alice)
	if !errors.Is(err, ErrFull) || !errors.Is(err, strategies.ErrUnavailable) {
		t.Fatalf("4th login: err = %v, want ErrFull wrapping ErrUnavailable", err)
	}
	for i, c := range creds { // refusing, not evicting
		if _, err := s.Authenticate(context.Background(), c.Token); err != nil {
			t.Fatalf("session %d evicted: %v", i, err)
		}
	}
	if err := s.Logout(context.Background(), creds[0].Token); err != nil {
		t.Fatal(err)
	}
	login(t, s, alice) // room after logout
	clk.Advance(time.Hour)
	for range 3 { // expired sessions are swept to make room
		login(t, s, alice)
	}
	if got := s.SessionCount(); got != 3 {
		t.Fatalf("SessionCount = %d, want 3", got)
	}
}

func TestKeyedByFingerprint(t *testing.T) {
	s := newStrategy(t, Config{FingerprintKey: testKey})
	c := login(t, s, alice)
	if !sessionutil.ValidID(c.Token) {
		t.Fatalf("token %q is not a 256-bit base64url id", c.Token)
	}
	want, err := hex.DecodeString(strategies.NewFingerprinter(testKey).Sum(c.Token))
	if err != nil {
		t.Fatal(err)
	}
	var keys [][]byte
	for i := range s.store.shards {
		sh := &s.store.shards[i]
		sh.mu.RLock()
		for k := range sh.m {
			keys = append(keys, bytes.Clone(k[:]))
		}
		sh.mu.RUnlock()
	}
	if len(keys) != 1 || !bytes.Equal(keys[0], want) {
		t.Fatalf("store keys %x, want [the fingerprint %x]", keys, want)
	}
}

func TestReturnedRolesAreCopies(t *testing.T) {
	s := newStrategy(t, Config{})
	p := identity.Principal{User: "bob", Roles: []string{"user", "admin"}}
	c := login(t, s, p)
	p.Roles[1] = "mutated-after-login"
	got, _ := s.Authenticate(context.Background(), c.Token)
	got.Roles[0] = "mutated-by-caller"
	again, err := s.Authenticate(context.Background(), c.Token)
	if err != nil || !slices.Equal(again.Roles, []string{"user", "admin"}) {
		t.Fatalf("stored roles aliased: %+v, %v", again, err)
	}
}

func TestLoginRejectsEmptyUser(t *testing.T) {
	if _, err := newStrategy(t, Config{}).Login(context.Background(), identity.Principal{}); err == nil {
		t.Fatal("Login with empty user succeeded")
	}
}

// TestStoreWithGorillaRegistry uses the Store as a plain gorilla/sessions
// store in an HTTP handler.
func TestStoreWithGorillaRegistry(t *testing.T) {
	s := newStrategy(t, Config{CookieName: "sid"})
	st := s.Store()
	var _ sessions.Store = st

	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	sess, err := st.Get(r, "sid")
	if err != nil || !sess.IsNew {
		t.Fatalf("Get without cookie: %+v, %v", sess, err)
	}
	sessionutil.SetPrincipal(sess.Values, alice)
	if err := sessions.Save(r, rec); err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != "sid" || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("Set-Cookie = %+v", cookies)
	}
	if p, err := s.Authenticate(context.Background(), cookies[0].Value); err != nil || p.User != "alice" {
		t.Fatalf("Authenticate(cookie from Store) = %+v, %v", p, err)
	}

	r2 := httptest.NewRequest(http.MethodGet, "/", nil)
	r2.AddCookie(cookies[0])
	sess2, err := st.Get(r2, "sid")
	if err != nil || sess2.IsNew || sess2.Values[sessionutil.KeyUser] != "alice" {
		t.Fatalf("Get with cookie: %+v, %v", sess2, err)
	}
	sess2.Options.MaxAge = -1
	rec2 := httptest.NewRecorder()
	if err := sess2.Save(r2, rec2); err != nil {
		t.Fatal(err)
	}
	if c := rec2.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Fatalf("delete cookie = %+v", c)
	}
	if _, err := s.Authenticate(context.Background(), cookies[0].Value); !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("after delete: err = %v", err)
	}
}

// TestStoreNeverAdoptsClientID: a client-chosen (unknown) id yields a new
// session that gets a fresh id on Save; saving a session under an id the
// store does not hold fails (no fixation).
func TestStoreNeverAdoptsClientID(t *testing.T) {
	s := newStrategy(t, Config{})
	st := s.Store()
	chosen, _ := sessionutil.NewID()
	r := sessionutil.Request(context.Background(), "authlab_session", chosen)
	sess, err := st.New(r, "authlab_session")
	if err != nil || !sess.IsNew || sess.ID != "" {
		t.Fatalf("New(unknown id) = %+v, %v", sess, err)
	}
	sessionutil.SetPrincipal(sess.Values, alice)
	var w sessionutil.ResponseWriter
	if err := st.Save(r, &w, sess); err != nil {
		t.Fatal(err)
	}
	if sess.ID == chosen || sess.ID == "" {
		t.Fatalf("session id = %q, client chose %q", sess.ID, chosen)
	}
	forged := sessions.NewSession(st, "authlab_session")
	forged.ID = chosen
	sessionutil.SetPrincipal(forged.Values, alice)
	if err := st.Save(r, &w, forged); err == nil {
		t.Fatal("Save adopted a client-chosen id")
	}
	if _, err := s.Authenticate(context.Background(), chosen); !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("client-chosen id accepted: %v", err)
	}
	empty := sessions.NewSession(st, "authlab_session")
	if err := st.Save(r, &w, empty); !errors.Is(err, sessionutil.ErrCorruptSession) {
		t.Fatalf("Save without principal: err = %v, want ErrCorruptSession", err)
	}
	if _, err := st.New(sessionutil.Request(context.Background(), "authlab_session", "bad"), "authlab_session"); !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("New(malformed cookie) err = %v, want ErrInvalidCredential", err)
	}
}

func FuzzAuthenticate(f *testing.F) {
	s, err := New(Config{FingerprintKey: testKey, SweepInterval: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	c, err := s.Login(context.Background(), alice)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c.Token)
	for _, h := range strategytest.Hostile(c.Token) {
		f.Add(h)
	}
	f.Add("")
	f.Add("authlab_session=" + c.Token)
	issued := map[string]identity.Principal{c.Token: alice}
	f.Fuzz(func(t *testing.T, raw string) {
		strategytest.CheckOnlyIssued(t, s, raw, issued)
	})
}

func BenchmarkAuthenticate(b *testing.B) {
	s := newStrategy(b, Config{SweepInterval: time.Hour})
	c := login(b, s, alice)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(ctx, c.Token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticateParallel(b *testing.B) {
	s := newStrategy(b, Config{SweepInterval: time.Hour})
	c := login(b, s, alice)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Authenticate(ctx, c.Token); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkLogin(b *testing.B) {
	s := newStrategy(b, Config{SweepInterval: time.Hour, MaxSessions: 1 << 30})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Login(ctx, alice); err != nil {
			b.Fatal(err)
		}
	}
}
