// Package redistest starts a Redis for a test: a real redis-server from PATH
// on a free loopback port, or, only where no binary exists, the embedded
// miniredis fallback (the test log says so).
package redistest

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/redisx"
	"github.com/authlab/authlab/internal/redisx/redisserver"
)

// EnvForceEmbedded names the environment variable that, set to 1, makes
// Start use the embedded fallback even where redis-server is installed:
// `make test-fallback` runs the Redis tests that way, so the fallback is
// held to the same tests as a real server.
const EnvForceEmbedded = "AUTHLAB_TEST_EMBEDDED_REDIS"

// Server is a Redis started for a test (a redisserver.Server): tests name
// its type through this package, not the server package.
type Server = redisserver.Server

// Start starts a Redis for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	start := redisserver.Start
	if os.Getenv(EnvForceEmbedded) == "1" {
		start = redisserver.StartEmbedded
	}
	s, err := start(context.Background(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	if s.Embedded() {
		t.Logf("WARNING: using the embedded miniredis fallback (redis-server not on PATH, or %s=1)", EnvForceEmbedded)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// Client returns a client for s with the project's request-path timeouts,
// closed when t ends.
func Client(t testing.TB, s *Server) redis.UniversalClient {
	t.Helper()
	c, err := redisx.NewClient(s.URL())
	if err != nil {
		t.Fatalf("redis client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// CommandCounter is a go-redis hook counting the commands a client sends
// (pipelined commands one by one, connection handshakes not at all): add it
// with client.AddHook to assert how many commands a code path costs.
type CommandCounter struct{ n atomic.Int64 }

// Count returns the commands sent so far.
func (c *CommandCounter) Count() int64 { return c.n.Load() }

// DialHook implements redis.Hook.
func (c *CommandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (c *CommandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !redisx.Handshake(cmd.Name()) {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (c *CommandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if !redisx.Handshake(cmd.Name()) {
				c.n.Add(1)
			}
		}
		return next(ctx, cmds)
	}
}
