package jwtauth

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
)

var (
	testSecret   = bytes.Repeat([]byte("s"), 32)
	testSeed     = bytes.Repeat([]byte{7}, 32)
	testFPKey    = bytes.Repeat([]byte("f"), 32)
	alice        = identity.Principal{User: "alice", Roles: []string{"user"}}
	testEpoch    = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	testIssuer   = "authlab-test"
	testAudience = "authlab-api"
)

// clock is a settable, concurrency-safe clock.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }

// baseConfig returns a valid configuration for alg without Redis.
func baseConfig(alg string, now func() time.Time) Config {
	c := Config{
		Alg:      alg,
		KeyID:    "k1-" + alg,
		Issuer:   testIssuer,
		Audience: testAudience,
		Now:      now,
	}
	switch alg {
	case AlgHS256:
		c.Secret = testSecret
	case AlgEdDSA:
		c.Ed25519Seed = testSeed
	}
	return c
}

// withRedis adds a Redis client (and the denylist when deny) to c.
func withRedis(c Config, client redis.UniversalClient, deny bool) Config {
	c.Client, c.FingerprintKey, c.Denylist = client, testFPKey, deny
	return c
}

func mustNew(t testing.TB, cfg Config) *Strategy {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func mustLogin(t testing.TB, s *Strategy, p identity.Principal) strategies.Credential {
	t.Helper()
	c, err := s.Login(context.Background(), p)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	return c
}

// claimsAt returns claims the strategy would issue at now.
func claimsAt(s *Strategy, now time.Time) Claims {
	return Claims{
		Issuer:    s.cfg.Issuer,
		Subject:   "alice",
		Audience:  s.cfg.Audience,
		ExpiresAt: now.Add(s.cfg.AccessTTL).Unix(),
		NotBefore: now.Unix(),
		IssuedAt:  now.Unix(),
		ID:        newID(),
		Roles:     []string{"user"},
		SessionID: newID(),
	}
}
