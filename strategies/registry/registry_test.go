package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/internal/redisx/redistest"
	"github.com/authlab/authlab/strategies"
)

func TestNewEveryStrategy(t *testing.T) {
	srv := redistest.Start(t)
	client := redistest.Client(t, srv)
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			o := Options{Redis: client, FingerprintKey: []byte(strings.Repeat("f", 32))}
			o.JWT.Alg, o.JWT.Secret, o.JWT.KeyID = "HS256", []byte(strings.Repeat("s", 32)), "k1"
			o.JWT.Issuer, o.JWT.Audience = "authlab", "authlab-api"
			s, err := New(context.Background(), name, o)
			if err != nil {
				t.Fatalf("New(%s): %v", name, err)
			}
			if c, ok := s.(strategies.Closer); ok {
				defer c.Close()
			}
			if s.Name() != name {
				t.Fatalf("Name() = %q, want %q", s.Name(), name)
			}
			if got := s.Capabilities().UsesRedis; got != NeedsRedis(name) {
				t.Fatalf("Capabilities().UsesRedis = %v, NeedsRedis = %v", got, NeedsRedis(name))
			}
			if !Known(name) {
				t.Fatal("Known() false for a listed name")
			}
		})
	}
}

func TestNewUnknownAndMissingRedis(t *testing.T) {
	if _, err := New(context.Background(), "kerberos", Options{}); err == nil || !strings.Contains(err.Error(), "unknown strategy") {
		t.Fatalf("unknown strategy: err = %v", err)
	}
	for _, name := range []string{RedisSession, Opaque} {
		if _, err := New(context.Background(), name, Options{FingerprintKey: []byte(strings.Repeat("f", 32))}); err == nil {
			t.Fatalf("%s without Redis: no error", name)
		}
	}
}

// TestSessionOptionsReachBothStrategies: SessionIdleTTL and SecureCookies
// are passed to sticky and redis-session; 0 means no idle timeout.
func TestSessionOptionsReachBothStrategies(t *testing.T) {
	srv := redistest.Start(t)
	client := redistest.Client(t, srv)
	ctx := context.Background()
	fpKey := []byte(strings.Repeat("f", 32))
	alice := identity.Principal{User: "alice"}

	t.Run("sticky idle", func(t *testing.T) {
		for _, idle := range []time.Duration{0, 10 * time.Minute} {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			o := Options{FingerprintKey: fpKey, SessionTTL: time.Hour, SessionIdleTTL: idle}
			o.Sticky.Now = func() time.Time { return now } // only this goroutine advances it
			s, err := New(ctx, Sticky, o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.(strategies.Closer).Close()
			c, err := s.Login(ctx, alice)
			if err != nil {
				t.Fatal(err)
			}
			now = now.Add(11 * time.Minute)
			_, err = s.Authenticate(ctx, c.Token)
			if wantExpired := idle > 0; errors.Is(err, strategies.ErrInvalidCredential) != wantExpired {
				t.Errorf("SessionIdleTTL %v: after 11 idle minutes err = %v, want expired %v", idle, err, wantExpired)
			}
		}
	})
	t.Run("redis-session idle", func(t *testing.T) {
		for _, tc := range []struct{ idle, wantKeyTTL time.Duration }{{0, time.Hour}, {10 * time.Minute, 10 * time.Minute}} {
			o := Options{Redis: client, FingerprintKey: fpKey, SessionTTL: time.Hour, SessionIdleTTL: tc.idle}
			o.RedisSession.KeyPrefix = fmt.Sprintf("idle%d:", tc.idle)
			s, err := New(ctx, RedisSession, o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Login(ctx, alice); err != nil {
				t.Fatal(err)
			}
			keys := client.Keys(ctx, o.RedisSession.KeyPrefix+"*").Val()
			if len(keys) != 1 {
				t.Fatalf("keys = %v", keys)
			}
			if ttl := client.PTTL(ctx, keys[0]).Val(); ttl <= tc.wantKeyTTL-time.Minute || ttl > tc.wantKeyTTL {
				t.Errorf("SessionIdleTTL %v: key TTL %v, want ~%v", tc.idle, ttl, tc.wantKeyTTL)
			}
		}
	})
	t.Run("secure cookies", func(t *testing.T) {
		for _, name := range []string{Sticky, RedisSession} {
			for _, secure := range []bool{false, true} {
				s, err := New(ctx, name, Options{Redis: client, FingerprintKey: fpKey, SecureCookies: secure})
				if err != nil {
					t.Fatal(err)
				}
				if c, ok := s.(strategies.Closer); ok {
					defer c.Close()
				}
				if got := strings.HasPrefix(s.Capabilities().CookieName, strategies.HostCookiePrefix); got != secure {
					t.Errorf("%s SecureCookies=%v: CookieName %q", name, secure, s.Capabilities().CookieName)
				}
			}
		}
	})
	t.Run("idle above TTL refused", func(t *testing.T) {
		for _, name := range []string{Sticky, RedisSession} {
			_, err := New(ctx, name, Options{Redis: client, FingerprintKey: fpKey, SessionTTL: time.Minute, SessionIdleTTL: time.Hour})
			if err == nil {
				t.Errorf("%s: SessionIdleTTL above SessionTTL accepted", name)
			}
		}
	})
}
