package opaque

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/strategytest"
)

// FuzzAuthenticate: Authenticate never panics, accepts exactly the tokens
// this instance issued, and classifies everything else as no/invalid
// credential (never "unavailable": Redis is up). Each fuzz worker process
// runs this setup and so has its own Redis and its own issued tokens.
func FuzzAuthenticate(f *testing.F) {
	e := newEnv(f)
	s, _ := e.instance(f, nil)
	issued := map[string]identity.Principal{}
	var last string
	for range 3 {
		last = login(f, s, alice)
		issued[last] = alice
		f.Add(last)
	}
	for _, raw := range strategytest.Hostile(last) {
		f.Add(raw)
	}
	f.Add("")
	f.Add(TokenPrefix + strings.Repeat("A", tokenBodyLen))
	f.Add(TokenPrefix + strings.Repeat("_", tokenBodyLen))
	f.Add(strings.Repeat("\xff", TokenLen))

	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		if strategytest.CheckOnlyIssued(t, s, raw, issued) {
			return
		}
		if err := s.Logout(ctx, raw); err != nil {
			t.Fatalf("Logout(%q) = %v, want nil", raw, err)
		}
	})
}

// BenchmarkAuthenticate measures one Authenticate: answered from the cache
// (HMAC + cache lookup), missing it (HMAC + one Redis GET over loopback +
// JSON decode + cache insert), and a malformed token rejected before any
// lookup. lookups/op reports the Redis GETs actually issued per call.
func BenchmarkAuthenticate(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	issuer, _ := e.instance(b, nil)
	t1, t2 := login(b, issuer, alice), login(b, issuer, bob)

	b.Run("cache-hit", func(b *testing.B) {
		s, _ := e.instance(b, nil)
		mustAuth(b, s, t1, alice)
		before := s.CacheStats().Lookups
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Authenticate(ctx, t1); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(s.CacheStats().Lookups-before)/float64(b.N), "lookups/op")
	})
	b.Run("cache-miss", func(b *testing.B) {
		// A one-entry cache and two alternating tokens: every call misses.
		s, _ := e.instance(b, func(c *Config) { c.CacheSize = 1 })
		toks := [2]string{t1, t2}
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Authenticate(ctx, toks[i&1]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(s.CacheStats().Lookups)/float64(b.N), "lookups/op")
	})
	b.Run("malformed", func(b *testing.B) {
		s, _ := e.instance(b, nil)
		raw := t1[:len(t1)-1] + "!"
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Authenticate(ctx, raw); !errors.Is(err, strategies.ErrInvalidCredential) {
				b.Fatal(err)
			}
		}
	})
}
