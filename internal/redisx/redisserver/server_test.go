package redisserver

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/redisx"
)

// TestRealTimeClock drives the embedded server's clock by hand: a key
// expires exactly when the injected clock passes its TTL.
func TestRealTimeClock(t *testing.T) {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	now := time.Unix(1_000_000, 0)
	c := newRealTimeClock(m, func() time.Time { return now })
	cl := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer cl.Close()
	ctx := context.Background()
	if err := cl.Set(ctx, "k", "v", time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	now = now.Add(999 * time.Millisecond)
	c.tick()
	if n := cl.Exists(ctx, "k").Val(); n != 1 {
		t.Fatalf("key gone after 999ms of a 1s TTL")
	}
	now = now.Add(time.Millisecond)
	c.tick()
	if n := cl.Exists(ctx, "k").Val(); n != 0 {
		t.Fatalf("key still there once its TTL passed")
	}
	// The clock never runs backwards.
	now = now.Add(-time.Hour)
	if err := cl.Set(ctx, "k2", "v", time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	c.tick()
	if n := cl.Exists(ctx, "k2").Val(); n != 1 {
		t.Fatalf("a clock step backwards expired a fresh key")
	}
}

// TestEmbeddedExpiresInRealTime: the fallback expires keys in real time, as
// the strategies rely on (a PEXPIREd session is gone without anyone driving
// the clock).
func TestEmbeddedExpiresInRealTime(t *testing.T) {
	ctx := context.Background()
	s, err := StartEmbedded(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	c, err := redisx.NewClient(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, "session", "v", 20*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "forever", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Exists(ctx, "session").Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a 20ms key still exists after 5s of real time")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if c.Exists(ctx, "forever").Val() != 1 {
		t.Fatal("a key without TTL expired")
	}
}

func TestServerStopRestart(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if s.Kind != KindRedisServer && s.Kind != KindEmbedded {
		t.Fatalf("Kind = %q", s.Kind)
	}
	c, _ := redisx.NewClient(s.URL())
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	start := time.Now()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded against a stopped server")
	}
	t.Logf("PING against a stopped server failed after %v", time.Since(start))
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		// one stale pooled connection may fail once
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatalf("PING after restart: %v", err)
		}
	}
	if n, _ := c.Exists(ctx, "k").Result(); n != 0 {
		t.Fatal("data survived a restart of a non-persistent server")
	}
}
