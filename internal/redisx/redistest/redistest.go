// Package redistest starts a Redis for a test: a real redis-server from PATH
// on a free loopback port, or, only where no binary exists, the embedded
// miniredis fallback (the test log says so).
package redistest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/redisx"
)

// Start starts a Redis for t and stops it when t ends.
func Start(t testing.TB) *redisx.Server {
	t.Helper()
	s, err := redisx.StartServer(context.Background(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	if s.Kind == redisx.KindEmbedded {
		t.Logf("WARNING: redis-server not on PATH; using the embedded miniredis fallback")
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// Client returns a client for s with the project's request-path timeouts,
// closed when t ends.
func Client(t testing.TB, s *redisx.Server) redis.UniversalClient {
	t.Helper()
	c, err := redisx.NewClient(s.URL())
	if err != nil {
		t.Fatalf("redis client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
