package redisx

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestNewClientURLs(t *testing.T) {
	tests := []struct {
		url     string
		wantErr bool
		check   func(t *testing.T, c redis.UniversalClient)
	}{
		{url: "redis://127.0.0.1:6379/2", check: func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.Client).Options()
			if o.Addr != "127.0.0.1:6379" || o.DB != 2 || o.ReadTimeout != ReadTimeout || o.DialerRetries != 1 {
				t.Fatalf("options %+v", o)
			}
		}},
		{url: "redis+cluster://127.0.0.1:7000,127.0.0.1:7001", check: func(t *testing.T, c redis.UniversalClient) {
			if _, ok := c.(*redis.ClusterClient); !ok {
				t.Fatalf("got %T, want *redis.ClusterClient", c)
			}
		}},
		{url: "redis+sentinel://127.0.0.1:26379/mymaster", check: func(t *testing.T, c redis.UniversalClient) {
			if _, ok := c.(*redis.Client); !ok { // failover client
				t.Fatalf("got %T", c)
			}
		}},
		{url: "redis+sentinel://127.0.0.1:26379", wantErr: true},
		{url: "", wantErr: true},
		{url: "http://127.0.0.1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := NewClient(tt.url)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tt.check(t, c)
		})
	}
}

func TestServerStopRestart(t *testing.T) {
	ctx := context.Background()
	s, err := StartServer(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if s.Kind != KindRedisServer && s.Kind != KindEmbedded {
		t.Fatalf("Kind = %q", s.Kind)
	}
	c, _ := NewClient(s.URL())
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
