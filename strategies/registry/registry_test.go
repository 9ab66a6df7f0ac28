package registry

import (
	"context"
	"strings"
	"testing"

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
