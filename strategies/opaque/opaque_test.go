package opaque

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/strategytest"
)

func TestConformance(t *testing.T) {
	for _, pubsub := range []bool{false, true} {
		name := "cache-only"
		if pubsub {
			name = "pubsub"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			strategytest.Run(t, func(t *testing.T) strategies.Strategy {
				s, _ := e.instance(t, func(c *Config) { c.PubSub = pubsub })
				if got := s.Capabilities().RevokesImmediately; got != pubsub {
					t.Fatalf("RevokesImmediately = %v with PubSub = %v", got, pubsub)
				}
				return s
			})
		})
	}
}

func TestConfigValidate(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = client.Close() })
	key := make([]byte, MinFingerprintKeyLen)
	ok := Config{Client: client, FingerprintKey: key}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"minimal", func(*Config) {}, ""},
		{"all set", func(c *Config) {
			c.TokenTTL, c.CacheTTL, c.CacheSize, c.NegativeCacheTTL, c.PubSub, c.KeyPrefix = time.Minute, time.Second, 10, time.Second, true, "x:"
		}, ""},
		{"nil client", func(c *Config) { c.Client = nil }, "Client is nil"},
		{"short key", func(c *Config) { c.FingerprintKey = key[:31] }, "FingerprintKey is 31 bytes"},
		{"no key", func(c *Config) { c.FingerprintKey = nil }, "FingerprintKey is 0 bytes"},
		{"negative token ttl", func(c *Config) { c.TokenTTL = -time.Second }, "TokenTTL is negative"},
		{"sub-ms token ttl", func(c *Config) { c.TokenTTL = time.Microsecond }, "below Redis's 1ms"},
		{"negative cache ttl", func(c *Config) { c.CacheTTL = -1 }, "CacheTTL is negative"},
		{"negative negative ttl", func(c *Config) { c.NegativeCacheTTL = -1 }, "NegativeCacheTTL is negative"},
		{"negative size", func(c *Config) { c.CacheSize = -1 }, "CacheSize is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want error containing %q", err, tt.wantErr)
			}
			if _, nerr := New(context.Background(), c); nerr == nil {
				t.Fatal("New accepted a config Validate rejects")
			}
		})
	}
}

func TestTokenAndStoreFormat(t *testing.T) {
	e := newEnv(t)
	s, _ := e.instance(t, func(c *Config) { c.TokenTTL = 10 * time.Minute })
	c, err := s.Login(context.Background(), bob)
	if err != nil {
		t.Fatal(err)
	}
	tok := c.Token
	if len(tok) != TokenLen || !strings.HasPrefix(tok, TokenPrefix) || TokenLen != 47 {
		t.Fatalf("token %d bytes, prefix ok %v; want %d bytes starting %q", len(tok), strings.HasPrefix(tok, TokenPrefix), TokenLen, TokenPrefix)
	}
	if err := checkShape(tok); err != nil {
		t.Fatalf("issued token fails its own shape check: %v", err)
	}
	if d := time.Until(c.ExpiresAt); d <= 9*time.Minute || d > 10*time.Minute {
		t.Fatalf("ExpiresAt in %v, want ~10m", d)
	}

	rc := e.client(t)
	keys, err := rc.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultKeyPrefix + "tok:" + strategies.NewFingerprinter(e.key).Sum(tok)
	if len(keys) != 1 || keys[0] != want {
		t.Fatalf("redis keys = %v, want [%s]", keys, want)
	}
	body := tok[len(TokenPrefix):]
	val, err := rc.Get(context.Background(), want).Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(keys[0], body) || strings.Contains(val, body) {
		t.Fatal("raw token found in redis")
	}
	var rec record
	if err := json.Unmarshal([]byte(val), &rec); err != nil || rec.User != "bob" || !slices.Equal(rec.Roles, bob.Roles) || rec.Exp != c.ExpiresAt.UnixMilli() {
		t.Fatalf("record = %s (%v), want bob with exp %d", val, err, c.ExpiresAt.UnixMilli())
	}
	ttl, err := rc.PTTL(context.Background(), want).Result()
	if err != nil || ttl <= 9*time.Minute || ttl > 10*time.Minute {
		t.Fatalf("PTTL = %v, %v; want ~10m", ttl, err)
	}

	// Two tokens differ; returned roles do not alias the cache.
	if tok2 := login(t, s, bob); tok2 == tok {
		t.Fatal("two logins, one token")
	}
	p, _ := s.Authenticate(context.Background(), tok)
	p.Roles[0] = "root"
	mustAuth(t, s, tok, bob)
	if got, _ := s.Authenticate(context.Background(), tok); got.Roles[0] != "admin" {
		t.Fatalf("caller mutated the cached principal: %v", got.Roles)
	}
}

func TestHostileTokens(t *testing.T) {
	e := newEnv(t)
	issuer, _ := e.instance(t, nil)
	tok := login(t, issuer, alice)
	s, h := e.instance(t, nil)
	body := tok[len(TokenPrefix):]
	unknown, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	// Flip the low bits of the last character: same bytes under a lenient
	// decoder, a different string here.
	nonCanonical := []byte(tok)
	nonCanonical[len(nonCanonical)-1] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[b64URLValue(tok[len(tok)-1])|1]

	tests := []struct {
		name       string
		raw        string
		want       error
		wantLookup bool // a well-shaped token reaches Redis; nothing else does
	}{
		{"empty", "", strategies.ErrNoCredential, false},
		{"short", "alo_abc", strategies.ErrInvalidCredential, false},
		{"truncated", tok[:len(tok)-1], strategies.ErrInvalidCredential, false},
		{"one extra char", tok + "A", strategies.ErrInvalidCredential, false},
		{"trailing newline", tok + "\n", strategies.ErrInvalidCredential, false},
		{"leading space", " " + tok[:len(tok)-1], strategies.ErrInvalidCredential, false},
		{"no prefix", body + "AAAA", strategies.ErrInvalidCredential, false},
		{"other prefix", "xyz_" + body, strategies.ErrInvalidCredential, false},
		{"std base64 plus", TokenPrefix + "+" + body[1:], strategies.ErrInvalidCredential, false},
		{"std base64 slash", TokenPrefix + body[:10] + "/" + body[11:], strategies.ErrInvalidCredential, false},
		{"padding", TokenPrefix + body[:42] + "=", strategies.ErrInvalidCredential, false},
		{"nul byte", TokenPrefix + body[:20] + "\x00" + body[21:], strategies.ErrInvalidCredential, false},
		{"unicode", TokenPrefix + body[:41] + "é", strategies.ErrInvalidCredential, false},
		{"non-canonical last char", string(nonCanonical), strategies.ErrInvalidCredential, false},
		{"10 KB", strings.Repeat("A", 10<<10), strategies.ErrInvalidCredential, false},
		{"10 KB with prefix", TokenPrefix + strings.Repeat("A", 10<<10), strategies.ErrInvalidCredential, false},
		{"bearer keyword", "Bearer " + tok, strategies.ErrInvalidCredential, false},
		{"right shape, unknown", unknown, strategies.ErrInvalidCredential, true},
		{"right shape, one char changed", TokenPrefix + "B" + body[1:], strategies.ErrInvalidCredential, true},
	}
	if body[0] == 'B' {
		tests[len(tests)-1].raw = TokenPrefix + "C" + body[1:]
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.n("get")
			_, err := s.Authenticate(context.Background(), tt.raw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), body) {
				t.Fatal("error message echoes the token")
			}
			if got := h.n("get") - before; got != map[bool]int{false: 0, true: 1}[tt.wantLookup] {
				t.Fatalf("%d redis GETs, want lookup=%v", got, tt.wantLookup)
			}
			if err := s.Logout(context.Background(), tt.raw); err != nil {
				t.Fatalf("Logout = %v, want nil", err)
			}
		})
	}
	mustAuth(t, s, tok, alice)
}

func TestCacheEntryExpiresAtCacheTTL(t *testing.T) {
	e := newEnv(t)
	clk := newFakeClock()
	mod := func(c *Config) { c.Now, c.CacheTTL, c.TokenTTL = clk.Now, 30*time.Second, time.Hour }
	a, _ := e.instance(t, mod)
	b, hb := e.instance(t, mod)
	tok := login(t, a, alice)

	mustAuth(t, b, tok, alice) // miss: one GET
	clk.Advance(30*time.Second - time.Millisecond)
	mustAuth(t, b, tok, alice) // still cached
	if got := hb.n("get"); got != 1 {
		t.Fatalf("%d GETs within CacheTTL, want 1", got)
	}
	clk.Advance(time.Millisecond)
	mustAuth(t, b, tok, alice) // expired entry: asks Redis again
	if got := hb.n("get"); got != 2 {
		t.Fatalf("%d GETs after CacheTTL, want 2", got)
	}
	st := b.CacheStats()
	if st.Hits != 1 || st.Misses != 2 || st.Lookups != 2 || st.Entries != 1 {
		t.Fatalf("CacheStats = %+v, want 1 hit, 2 misses, 2 lookups, 1 entry", st)
	}
}

func TestCacheEntryNeverOutlivesToken(t *testing.T) {
	e := newEnv(t)
	clk := newFakeClock()
	mod := func(c *Config) { c.Now, c.CacheTTL, c.TokenTTL = clk.Now, time.Hour, 10*time.Second }
	a, ha := e.instance(t, mod)
	b, hb := e.instance(t, mod)
	tok := login(t, a, alice)
	mustAuth(t, b, tok, alice)

	clk.Advance(10*time.Second - time.Millisecond)
	mustAuth(t, a, tok, alice) // cached at login
	mustAuth(t, b, tok, alice) // cached at first use
	if ha.n("get") != 0 || hb.n("get") != 1 {
		t.Fatalf("GETs a=%d b=%d, want 0 and 1", ha.n("get"), hb.n("get"))
	}
	clk.Advance(time.Millisecond)
	// The key still exists in Redis (its TTL runs on the real clock), so
	// the rejection proves both the cache cap and the record's expiry check.
	for name, s := range map[string]*Strategy{"a": a, "b": b} {
		if _, err := s.Authenticate(context.Background(), tok); !errors.Is(err, strategies.ErrInvalidCredential) {
			t.Fatalf("instance %s after token expiry: err = %v, want ErrInvalidCredential", name, err)
		}
	}
	if ha.n("get") != 1 || hb.n("get") != 2 {
		t.Fatalf("GETs a=%d b=%d, want 1 and 2 (cache entries expired with the token)", ha.n("get"), hb.n("get"))
	}
}

func TestLogoutWithoutPubSubLagsUntilCacheExpiry(t *testing.T) {
	e := newEnv(t)
	clk := newFakeClock()
	mod := func(c *Config) { c.Now, c.CacheTTL = clk.Now, 30*time.Second }
	a, _ := e.instance(t, mod)
	b, _ := e.instance(t, mod)
	tok := login(t, a, alice)
	other := login(t, a, alice)
	mustAuth(t, b, tok, alice)

	if err := a.Logout(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(context.Background(), tok); !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("same instance after logout: err = %v, want ErrInvalidCredential", err)
	}
	clk.Advance(30*time.Second - time.Millisecond)
	mustAuth(t, b, tok, alice) // the measured lag: B's cache still trusts it
	clk.Advance(time.Millisecond)
	if _, err := b.Authenticate(context.Background(), tok); !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("instance B after its cache entry expired: err = %v, want ErrInvalidCredential", err)
	}
	mustAuth(t, b, other, alice)
}

func TestLogoutWithPubSubRevokesEverywhere(t *testing.T) {
	e := newEnv(t)
	mod := func(c *Config) { c.PubSub, c.CacheTTL = true, time.Hour } // only pub/sub can evict
	a, _ := e.instance(t, mod)
	b, hb := e.instance(t, mod)
	c, _ := e.instance(t, mod)
	tok := login(t, a, alice)
	other := login(t, a, bob)
	for _, s := range []*Strategy{b, c} {
		mustAuth(t, s, tok, alice)
		mustAuth(t, s, other, bob)
	}
	if err := a.Logout(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(context.Background(), tok); !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("same instance after logout: err = %v, want ErrInvalidCredential", err)
	}
	for name, s := range map[string]*Strategy{"b": b, "c": c} {
		eventually(t, 2*time.Second, "instance "+name+" rejects the logged-out token", func() bool {
			_, err := s.Authenticate(context.Background(), tok)
			return errors.Is(err, strategies.ErrInvalidCredential)
		})
		if st := s.CacheStats(); st.Invalidations != 1 {
			t.Fatalf("instance %s: Invalidations = %d, want 1", name, st.Invalidations)
		}
	}
	gets := hb.n("get")
	mustAuth(t, b, other, bob)
	if hb.n("get") != gets {
		t.Fatal("the other token's cache entry was dropped too")
	}
}

func TestMalformedInvalidationMessageIgnored(t *testing.T) {
	e := newEnv(t)
	b, hb := e.instance(t, func(c *Config) { c.PubSub, c.CacheTTL = true, time.Hour })
	t1, t2 := login(t, b, alice), login(t, b, bob)
	rc := e.client(t)
	for _, payload := range []string{"", "garbage", strings.Repeat("Z", 64), strings.Repeat("a", 10<<10)} {
		if err := rc.Publish(context.Background(), DefaultKeyPrefix+"revoked", payload).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Messages arrive in order: once t2's invalidation is applied, the
	// garbage before it has been handled.
	if err := rc.Publish(context.Background(), DefaultKeyPrefix+"revoked", strategies.NewFingerprinter(e.key).Sum(t2)).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "t2 invalidated", func() bool { return b.CacheStats().Invalidations == 1 })
	mustAuth(t, b, t1, alice)
	if hb.n("get") != 0 {
		t.Fatal("t1's entry was dropped by a malformed message")
	}
}

func TestSingleflightOneLookupForConcurrentMisses(t *testing.T) {
	const n = 16
	e := newEnv(t)
	a, _ := e.instance(t, nil)
	tok := login(t, a, alice)

	missed := make(chan struct{}, n)
	b, hb := e.instance(t, nil)
	b.testHookMiss = func() { missed <- struct{}{} }
	gate := make(chan struct{})
	hb.setGate(gate) // every GET blocks until all n callers have missed

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			p, err := b.Authenticate(context.Background(), tok)
			if err == nil && p.User != alice.User {
				err = errors.New("wrong principal " + p.User)
			}
			errs <- err
		})
	}
	for range n {
		<-missed
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := hb.n("get"); got != 1 {
		t.Fatalf("%d concurrent misses made %d redis GETs, want 1", n, got)
	}
	if st := b.CacheStats(); st.Misses != n || st.Lookups != 1 {
		t.Fatalf("CacheStats = %+v, want %d misses and 1 lookup", st, n)
	}
}

// A lookup that read the record just before a Logout must not put the
// revoked token back into the cache when it finishes.
func TestLogoutDuringInFlightLookup(t *testing.T) {
	e := newEnv(t)
	a, _ := e.instance(t, nil)
	tok := login(t, a, alice)
	b, hb := e.instance(t, func(c *Config) { c.CacheTTL = time.Hour })
	after, reached := make(chan struct{}), make(chan struct{}, 1)
	hb.setAfter(after, reached)

	done := make(chan error, 1)
	go func() {
		_, err := b.Authenticate(context.Background(), tok)
		done <- err
	}()
	<-reached // B's GET has returned the record; the lookup has not cached it yet
	if err := b.Logout(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	hb.setAfter(nil, nil)
	close(after)
	if err := <-done; err != nil {
		t.Fatalf("request concurrent with logout: %v", err) // it raced the logout: either answer is fine, but not an error
	}
	if _, err := b.Authenticate(context.Background(), tok); !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("after logout: err = %v, want ErrInvalidCredential (stale in-flight result was cached)", err)
	}
}

func TestNegativeCache(t *testing.T) {
	unknown, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		negTTL      time.Duration
		wantGetsHot int // GETs after 3 lookups inside the TTL
	}{
		{"off by default", 0, 3},
		{"on", 5 * time.Second, 1},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			s, h := e.instance(t, func(c *Config) { c.Now, c.NegativeCacheTTL = clk.Now, tt.negTTL })
			for range 3 {
				if _, err := s.Authenticate(context.Background(), unknown); !errors.Is(err, strategies.ErrInvalidCredential) {
					t.Fatalf("unknown token: err = %v", err)
				}
			}
			if got := h.n("get"); got != tt.wantGetsHot {
				t.Fatalf("%d GETs, want %d", got, tt.wantGetsHot)
			}
			clk.Advance(5 * time.Second)
			_, _ = s.Authenticate(context.Background(), unknown)
			if got := h.n("get"); got != tt.wantGetsHot+1 {
				t.Fatalf("after NegativeCacheTTL: %d GETs, want %d", got, tt.wantGetsHot+1)
			}
		})
	}
}

func TestRedisDownAndBack(t *testing.T) {
	e := newEnv(t)
	mod := func(c *Config) { c.PubSub, c.CacheTTL = true, time.Hour }
	a, _ := e.instance(t, mod)
	b, _ := e.instance(t, mod)
	cached := login(t, a, alice)
	uncached := login(t, a, bob)
	mustAuth(t, b, cached, alice)

	if err := e.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	mustAuth(t, b, cached, alice) // served from the cache

	start := time.Now()
	_, err := b.Authenticate(context.Background(), uncached)
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("uncached token with redis down took %v, want < 1s", elapsed)
	}
	if !errors.Is(err, strategies.ErrUnavailable) || errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("uncached token with redis down: err = %v, want ErrUnavailable only", err)
	}
	if _, err := a.Login(context.Background(), alice); !errors.Is(err, strategies.ErrUnavailable) {
		t.Fatalf("Login with redis down: err = %v, want ErrUnavailable", err)
	}
	if err := a.Check(context.Background()); !errors.Is(err, strategies.ErrUnavailable) {
		t.Fatalf("Check with redis down: err = %v, want ErrUnavailable", err)
	}
	if err := a.Logout(context.Background(), cached); !errors.Is(err, strategies.ErrUnavailable) {
		t.Fatalf("Logout with redis down: err = %v, want ErrUnavailable", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Strategy{"a": a, "b": b} {
		eventually(t, 5*time.Second, "instance "+name+" resubscribed", func() bool { return s.CacheStats().Resubscribes >= 1 })
	}
	if err := b.Check(context.Background()); err != nil {
		t.Fatalf("Check after restart: %v", err)
	}
	// The restarted Redis is empty and the resubscribe purged B's cache:
	// the old token is gone rather than trusted from a stale entry.
	if _, err := b.Authenticate(context.Background(), cached); !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("pre-restart token after restart: err = %v, want ErrInvalidCredential", err)
	}

	// New logins work, and invalidation flows again over the new subscription.
	tok := login(t, a, alice)
	other := login(t, b, bob)
	mustAuth(t, b, tok, alice)
	mustAuth(t, a, other, bob)
	inv := b.CacheStats().Invalidations
	if err := a.Logout(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "B rejects after logout on A (post-restart)", func() bool {
		_, err := b.Authenticate(context.Background(), tok)
		return errors.Is(err, strategies.ErrInvalidCredential)
	})
	if got := b.CacheStats().Invalidations; got != inv+1 {
		t.Fatalf("B invalidations %d -> %d: the rejection did not come from pub/sub", inv, got)
	}
	mustAuth(t, b, other, bob)
}

func TestNewWithPubSubAndRedisDown(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	if err := e.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	_, err := New(context.Background(), Config{Client: c, FingerprintKey: e.key, PubSub: true})
	if !errors.Is(err, strategies.ErrUnavailable) {
		t.Fatalf("New with pub/sub and redis down: err = %v, want ErrUnavailable", err)
	}
	// Without pub/sub New needs no Redis; Check reports it.
	s, err := New(context.Background(), Config{Client: c, FingerprintKey: e.key})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background()); !errors.Is(err, strategies.ErrUnavailable) {
		t.Fatalf("Check: %v, want ErrUnavailable", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseStopsSubscriber(t *testing.T) {
	e := newEnv(t)
	s, _ := e.instance(t, func(c *Config) { c.PubSub = true })
	tok := login(t, s, alice)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("subscriber goroutine still running after Close")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	mustAuth(t, s, tok, alice) // the strategy itself still works
}
