package redissession

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/internal/redisx"
	"github.com/authlab/authlab/internal/redisx/redistest"
	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/strategytest"
)

var alice = identity.Principal{User: "alice", Roles: []string{"user"}}

var testKey = bytes.Repeat([]byte("k"), 32)

type env struct {
	srv    *redistest.Server
	client redis.UniversalClient
	cmds   *redistest.CommandCounter
}

func setup(t testing.TB) env {
	t.Helper()
	srv := redistest.Start(t)
	client := redistest.Client(t, srv)
	cc := &redistest.CommandCounter{}
	client.AddHook(cc)
	return env{srv: srv, client: client, cmds: cc}
}

func newStrategy(t testing.TB, cfg Config) *Strategy {
	t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
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
	e := setup(t)
	strategytest.Run(t, func(t *testing.T) strategies.Strategy {
		return newStrategy(t, Config{Client: e.client, FingerprintKey: testKey})
	})
}

func TestCapabilities(t *testing.T) {
	e := setup(t)
	s := newStrategy(t, Config{Client: e.client})
	want := strategies.Capabilities{
		Transport: strategies.TransportCookie, CookieName: "authlab_session",
		Authenticates: true, RevokesImmediately: true, SharedState: true, UsesRedis: true,
	}
	if got := s.Capabilities(); got != want {
		t.Fatalf("Capabilities = %+v, want %+v", got, want)
	}
	if s.Name() != "redis-session" {
		t.Fatalf("Name = %q", s.Name())
	}
	var _ strategies.Checker = s
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled by Validate
	t.Cleanup(func() { _ = c.Close() })
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"minimal", Config{Client: c}, false},
		{"full", Config{Client: c, CookieName: "sid", TTL: time.Hour, KeyPrefix: "x:", FingerprintKey: testKey}, false},
		{"nil client", Config{}, true},
		{"bad cookie name", Config{Client: c, CookieName: "a;b"}, true},
		{"negative TTL", Config{Client: c, TTL: -time.Second}, true},
		{"sub-second TTL", Config{Client: c, TTL: 500 * time.Millisecond}, true},
		{"fractional TTL", Config{Client: c, TTL: 1500 * time.Millisecond}, true},
		{"long prefix", Config{Client: c, KeyPrefix: strings.Repeat("p", 200)}, true},
		{"short key", Config{Client: c, FingerprintKey: []byte("short")}, true},
		{"idle", Config{Client: c, TTL: time.Hour, IdleTTL: time.Minute}, false},
		{"idle equal to TTL", Config{Client: c, TTL: time.Hour, IdleTTL: time.Hour}, false},
		{"negative idle", Config{Client: c, IdleTTL: -time.Second}, true},
		{"fractional idle", Config{Client: c, IdleTTL: 1500 * time.Millisecond}, true},
		{"sub-second idle", Config{Client: c, IdleTTL: time.Millisecond}, true},
		{"idle above TTL", Config{Client: c, TTL: time.Minute, IdleTTL: time.Hour}, true},
		{"idle above default TTL", Config{Client: c, IdleTTL: 13 * time.Hour}, true},
		{"prefixed cookie name", Config{Client: c, CookieName: "__Host-sid"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err != nil) != tc.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

func TestNewWithRedisDown(t *testing.T) {
	e := setup(t)
	if err := e.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	_, err := New(context.Background(), Config{Client: e.client})
	if !errors.Is(err, strategies.ErrUnavailable) {
		t.Fatalf("New with Redis down: err = %v, want ErrUnavailable", err)
	}
}

// TestStoredKeyIsFingerprint: the Redis key is prefix + HMAC fingerprint,
// the raw id appears nowhere in Redis, the value is our JSON, and the key
// carries the TTL.
func TestStoredKeyIsFingerprint(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	s := newStrategy(t, Config{Client: e.client, FingerprintKey: testKey, KeyPrefix: "t:", TTL: time.Hour})
	c := login(t, s, identity.Principal{User: "bob", Roles: []string{"user", "admin"}})
	keys, err := e.client.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := "t:" + strategies.NewFingerprinter(testKey).Sum(c.Token)
	if len(keys) != 1 || keys[0] != want {
		t.Fatalf("keys = %v, want [%s]", keys, want)
	}
	val, err := e.client.Get(ctx, want).Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(val, c.Token) || strings.Contains(keys[0], c.Token) {
		t.Fatal("raw session id stored in Redis")
	}
	var rec record
	if err := json.Unmarshal([]byte(val), &rec); err != nil || rec.User != "bob" || !slices.Equal(rec.Roles, []string{"user", "admin"}) ||
		rec.X != c.ExpiresAt.UnixMilli() {
		t.Fatalf("stored value %q: %+v, %v (want absolute expiry %d)", val, rec, err, c.ExpiresAt.UnixMilli())
	}
	ttl, err := e.client.TTL(ctx, want).Result()
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("key TTL = %v, %v; want ~1h", ttl, err)
	}
	if !c.ExpiresAt.After(time.Now().Add(59*time.Minute)) || c.ExpiresAt.After(time.Now().Add(time.Hour)) {
		t.Fatalf("ExpiresAt = %v", c.ExpiresAt)
	}
}

// TestInstancesNeedSameFingerprintKey: an instance with another key does
// not find the sessions (documents why all instances must share the key).
func TestInstancesNeedSameFingerprintKey(t *testing.T) {
	e := setup(t)
	a := newStrategy(t, Config{Client: e.client, FingerprintKey: testKey})
	b := newStrategy(t, Config{Client: e.client, FingerprintKey: bytes.Repeat([]byte("z"), 32)})
	c := login(t, a, alice)
	if _, err := b.Authenticate(context.Background(), c.Token); !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("other key: err = %v, want ErrInvalidCredential", err)
	}
}

func TestMalformedRejectedBeforeRedis(t *testing.T) {
	e := setup(t)
	s := newStrategy(t, Config{Client: e.client})
	c := login(t, s, alice)
	hostile := strategytest.Hostile(c.Token)
	before := e.cmds.Count()
	for name, raw := range hostile {
		if name == "flipped middle char" {
			continue // well-formed: it must be looked up
		}
		if _, err := s.Authenticate(context.Background(), raw); !errors.Is(err, strategies.ErrInvalidCredential) {
			t.Errorf("%s: err = %v", name, err)
		}
		if err := s.Logout(context.Background(), raw); err != nil {
			t.Errorf("Logout(%s) = %v", name, err)
		}
	}
	if n := e.cmds.Count() - before; n != 0 {
		t.Fatalf("malformed values caused %d Redis commands, want 0", n)
	}
	before = e.cmds.Count()
	if _, err := s.Authenticate(context.Background(), c.Token); err != nil {
		t.Fatal(err)
	}
	if n := e.cmds.Count() - before; n != 1 {
		t.Fatalf("Authenticate sent %d Redis commands, want 1 (GET)", n)
	}
}

func TestCorruptStoredValueIsInvalidNotUnavailable(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	s := newStrategy(t, Config{Client: e.client, FingerprintKey: testKey})
	for name, val := range map[string]string{
		"not json":   "\x0e\xff gob?",
		"no user":    `{"r":["admin"]}`,
		"wrong type": `{"u":42}`,
		"no expiry":  `{"u":"alice"}`, // its TTL could be slid forever
	} {
		t.Run(name, func(t *testing.T) {
			c := login(t, s, alice)
			key := DefaultKeyPrefix + strategies.NewFingerprinter(testKey).Sum(c.Token)
			if err := e.client.Set(ctx, key, val, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			_, err := s.Authenticate(ctx, c.Token)
			if !errors.Is(err, strategies.ErrInvalidCredential) || errors.Is(err, strategies.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrInvalidCredential only", err)
			}
		})
	}
}

func TestLogoutDeletesKey(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	s := newStrategy(t, Config{Client: e.client, FingerprintKey: testKey})
	c := login(t, s, alice)
	key := DefaultKeyPrefix + strategies.NewFingerprinter(testKey).Sum(c.Token)
	if n, _ := e.client.Exists(ctx, key).Result(); n != 1 {
		t.Fatalf("key missing after login")
	}
	if err := s.Logout(ctx, c.Token); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.client.Exists(ctx, key).Result(); n != 0 {
		t.Fatalf("key still present after logout")
	}
	if err := s.Logout(ctx, c.Token); err != nil {
		t.Fatalf("second logout: %v", err)
	}
}

func TestExpiredByRedisTTL(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	s := newStrategy(t, Config{Client: e.client, FingerprintKey: testKey})
	c := login(t, s, alice)
	key := DefaultKeyPrefix + strategies.NewFingerprinter(testKey).Sum(c.Token)
	// Expire the key now instead of waiting for the TTL.
	if err := e.client.PExpire(ctx, key, time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := s.Authenticate(ctx, c.Token)
		if errors.Is(err, strategies.ErrInvalidCredential) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired session still accepted: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRedisDownAndBack: with Redis stopped every operation fails fast with
// ErrUnavailable (503, never 401); after a restart the same Strategy works
// again (old sessions are gone, new logins work).
func TestRedisDownAndBack(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	s := newStrategy(t, Config{Client: e.client, FingerprintKey: testKey})
	c := login(t, s, alice)
	if err := e.srv.Stop(); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	_, err := s.Authenticate(ctx, c.Token)
	elapsed := time.Since(start)
	t.Logf("Authenticate with Redis down failed after %v: %v", elapsed, err)
	if elapsed > time.Second {
		t.Fatalf("Authenticate with Redis down took %v, want < 1s", elapsed)
	}
	if !errors.Is(err, strategies.ErrUnavailable) || errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("Authenticate with Redis down: err = %v, want ErrUnavailable only", err)
	}
	if _, err := s.Login(ctx, alice); !errors.Is(err, strategies.ErrUnavailable) {
		t.Fatalf("Login with Redis down: err = %v, want ErrUnavailable", err)
	}
	if err := s.Logout(ctx, c.Token); !errors.Is(err, strategies.ErrUnavailable) {
		t.Fatalf("Logout with Redis down: err = %v, want ErrUnavailable", err)
	}
	if err := s.Check(ctx); !errors.Is(err, strategies.ErrUnavailable) {
		t.Fatalf("Check with Redis down: err = %v, want ErrUnavailable", err)
	}
	// Malformed values are still rejected as invalid, without Redis.
	if _, err := s.Authenticate(ctx, "garbage"); !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("malformed with Redis down: err = %v", err)
	}

	if err := e.srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// Readiness poll: the client's pool may hold dead connections.
	deadline := time.Now().Add(5 * time.Second)
	for s.Check(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("Check still failing after restart")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := s.Authenticate(ctx, c.Token); !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("old session after restart: err = %v, want ErrInvalidCredential (Redis restarted empty)", err)
	}
	n := login(t, s, alice)
	if p, err := s.Authenticate(ctx, n.Token); err != nil || p.User != "alice" {
		t.Fatalf("new session after restart: %+v, %v", p, err)
	}
}

// TestRedisBlackholed: a Redis that accepts connections but never answers
// must also fail within the client's timeouts, as ErrUnavailable.
func TestRedisBlackholed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // hold it open, never answer
		}
	}()
	client, err := redisx.NewClient("redis://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	_, err = New(context.Background(), Config{Client: client})
	if !errors.Is(err, strategies.ErrUnavailable) {
		t.Fatalf("New against a black hole: err = %v, want ErrUnavailable", err)
	}
}

func TestCanceledContext(t *testing.T) {
	e := setup(t)
	s := newStrategy(t, Config{Client: e.client})
	c := login(t, s, alice)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Authenticate(ctx, c.Token)
	if !errors.Is(err, strategies.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled ctx: err = %v, want ErrUnavailable wrapping context.Canceled", err)
	}
}

func TestLoginRejectsEmptyUser(t *testing.T) {
	e := setup(t)
	if _, err := newStrategy(t, Config{Client: e.client}).Login(context.Background(), identity.Principal{}); err == nil {
		t.Fatal("Login with empty user succeeded")
	}
}

func FuzzAuthenticate(f *testing.F) {
	e := setup(f)
	s := newStrategy(f, Config{Client: e.client, FingerprintKey: testKey})
	c := login(f, s, alice)
	f.Add(c.Token)
	for _, h := range strategytest.Hostile(c.Token) {
		f.Add(h)
	}
	f.Add("")
	f.Add(DefaultKeyPrefix + c.Token)
	f.Add(strategies.NewFingerprinter(testKey).Sum(c.Token))
	issued := map[string]identity.Principal{c.Token: alice}
	f.Fuzz(func(t *testing.T, raw string) {
		strategytest.CheckOnlyIssued(t, s, raw, issued)
	})
}

func BenchmarkAuthenticate(b *testing.B) {
	e := setup(b)
	s := newStrategy(b, Config{Client: e.client, FingerprintKey: testKey})
	c := login(b, s, alice)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(ctx, c.Token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLogin(b *testing.B) {
	e := setup(b)
	s := newStrategy(b, Config{Client: e.client, FingerprintKey: testKey})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Login(ctx, alice); err != nil {
			b.Fatal(err)
		}
	}
}

// clock is a manually advanced clock for the absolute expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

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

// TestOneCommandPerAuthenticate: with or without an idle timeout, an
// authenticated request costs exactly one Redis command (the number the
// benchmark reports as Redis commands per request), and the key's TTL is
// slid to IdleTTL only when one is set (GET never touches it; GETEX must
// never PERSIST it).
func TestOneCommandPerAuthenticate(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	tests := []struct {
		name          string
		idle          time.Duration
		wantLoginTTL  time.Duration // the key's TTL right after login
		wantTTLAfter  time.Duration // after Authenticate of a key shortened to 100 s
		slides        bool
		authenticates int
	}{
		{"no idle timeout", 0, time.Hour, 100 * time.Second, false, 3},
		{"idle timeout", 10 * time.Minute, 10 * time.Minute, 10 * time.Minute, true, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStrategy(t, Config{Client: e.client, FingerprintKey: testKey, TTL: time.Hour, IdleTTL: tc.idle})
			c := login(t, s, alice)
			key := DefaultKeyPrefix + strategies.NewFingerprinter(testKey).Sum(c.Token)
			if ttl := e.client.PTTL(ctx, key).Val(); ttl <= tc.wantLoginTTL-time.Minute || ttl > tc.wantLoginTTL {
				t.Fatalf("key TTL after login = %v, want ~%v", ttl, tc.wantLoginTTL)
			}
			if err := e.client.Expire(ctx, key, 100*time.Second).Err(); err != nil {
				t.Fatal(err)
			}
			before := e.cmds.Count()
			for range tc.authenticates {
				if p, err := s.Authenticate(ctx, c.Token); err != nil || p.User != alice.User || !slices.Equal(p.Roles, alice.Roles) {
					t.Fatalf("Authenticate = %+v, %v", p, err)
				}
			}
			if n := e.cmds.Count() - before; n != int64(tc.authenticates) {
				t.Fatalf("%d Authenticate calls sent %d Redis commands, want one each", tc.authenticates, n)
			}
			ttl := e.client.PTTL(ctx, key).Val()
			if ttl <= tc.wantTTLAfter-time.Minute || ttl > tc.wantTTLAfter {
				t.Fatalf("key TTL after Authenticate = %v, want ~%v (slides: %v)", ttl, tc.wantTTLAfter, tc.slides)
			}
		})
	}
}

// TestIdleExpiry: a session whose key's idle TTL ran out (shortened here
// instead of waited for) is gone.
func TestIdleExpiry(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	s := newStrategy(t, Config{Client: e.client, FingerprintKey: testKey, TTL: time.Hour, IdleTTL: time.Minute})
	c := login(t, s, alice)
	other := login(t, s, alice)
	key := DefaultKeyPrefix + strategies.NewFingerprinter(testKey).Sum(c.Token)
	if err := e.client.PExpire(ctx, key, time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	// Readiness poll on Redis expiring the key; EXISTS, unlike Authenticate,
	// does not slide its TTL.
	deadline := time.Now().Add(5 * time.Second)
	for e.client.Exists(ctx, key).Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("Redis did not expire the key")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Authenticate(ctx, c.Token); !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("idle-expired session: err = %v, want ErrInvalidCredential", err)
	}
	if _, err := s.Authenticate(ctx, other.Token); err != nil {
		t.Fatalf("another session of the user expired with it: %v", err)
	}
}

// TestAbsoluteLifetimeUnderContinuousUse: a session used every 5 minutes
// (its idle TTL of 10 minutes never runs out) still ends at TTL, counted on
// the injected clock, and its key is then deleted.
func TestAbsoluteLifetimeUnderContinuousUse(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	s := newStrategy(t, Config{Client: e.client, FingerprintKey: testKey, TTL: time.Hour, IdleTTL: 10 * time.Minute, Now: clk.Now})
	c := login(t, s, alice)
	if want := clk.Now().Add(time.Hour); !c.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt = %v, want %v (absolute, not idle)", c.ExpiresAt, want)
	}
	key := DefaultKeyPrefix + strategies.NewFingerprinter(testKey).Sum(c.Token)
	for m := 5; m < 60; m += 5 {
		clk.Advance(5 * time.Minute)
		if _, err := s.Authenticate(ctx, c.Token); err != nil {
			t.Fatalf("+%d min: %v", m, err)
		}
	}
	clk.Advance(5 * time.Minute)
	if _, err := s.Authenticate(ctx, c.Token); !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("at the absolute end: err = %v, want ErrInvalidCredential", err)
	}
	if n := e.client.Exists(ctx, key).Val(); n != 0 {
		t.Fatal("key past its absolute lifetime not deleted")
	}
}

func TestSecureCookieName(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct {
		secure bool
		want   string
	}{{false, "sid"}, {true, "__Host-sid"}} {
		s := newStrategy(t, Config{Client: e.client, CookieName: "sid", Secure: tc.secure})
		if got := s.Capabilities().CookieName; got != tc.want {
			t.Errorf("Secure=%v: CookieName = %q, want %q", tc.secure, got, tc.want)
		}
		c := login(t, s, alice) // the store still works under the prefixed name
		if _, err := s.Authenticate(context.Background(), c.Token); err != nil {
			t.Errorf("Secure=%v: %v", tc.secure, err)
		}
	}
}

func BenchmarkAuthenticateIdle(b *testing.B) {
	e := setup(b)
	s := newStrategy(b, Config{Client: e.client, FingerprintKey: testKey, IdleTTL: time.Hour})
	c := login(b, s, alice)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(ctx, c.Token); err != nil {
			b.Fatal(err)
		}
	}
}
