package redisx

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

func TestNewClientURLs(t *testing.T) {
	tests := []struct {
		url     string
		wantErr bool
		check   func(t *testing.T, c redis.UniversalClient)
	}{
		{url: "redis://127.0.0.1:6379/2", check: func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.Client).Options()
			if o.Addr != "127.0.0.1:6379" || o.DB != 2 || o.ReadTimeout != ReadTimeout || o.DialerRetries != DialerRetries || !o.DisableIdentity {
				t.Fatalf("options %+v", o)
			}
		}},
		{url: "redis://127.0.0.1:6379/0?pool_size=7&dial_timeout=9s", check: func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.Client).Options()
			if o.PoolSize != 7 || o.DialTimeout != DialTimeout {
				t.Fatalf("want the URL's pool size kept and our dial timeout: %+v", o)
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
		{url: "redis+cluster://127.0.0.1", wantErr: true},
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

// TestOptionsSameTimeoutsEverywhere: Cluster and Sentinel clients get the
// same short timeouts and retry settings as the single-node client
// (go-redis's defaults stall a request for seconds on a dead node).
func TestOptionsSameTimeoutsEverywhere(t *testing.T) {
	tests := []struct {
		url, kind string
		check     func(t *testing.T, o *redis.UniversalOptions)
	}{
		{"redis://:pw@127.0.0.1:6379/3", TopologySingle, func(t *testing.T, o *redis.UniversalOptions) {
			if o.DB != 3 || o.Password != "pw" {
				t.Errorf("db %d password %q", o.DB, o.Password)
			}
		}},
		{"redis+cluster://u:pw@10.0.0.1:7000,10.0.0.2:7001", TopologyCluster, func(t *testing.T, o *redis.UniversalOptions) {
			if !o.IsClusterMode || len(o.Addrs) != 2 || o.Username != "u" || o.Password != "pw" {
				t.Errorf("cluster options %+v", o)
			}
		}},
		{"redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/mymaster/2", TopologySentinel, func(t *testing.T, o *redis.UniversalOptions) {
			if o.MasterName != "mymaster" || o.DB != 2 || len(o.Addrs) != 2 || o.SentinelPassword != "pw" || o.Password != "pw" {
				t.Errorf("sentinel options %+v", o)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			o, kind, err := Options(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if kind != tt.kind {
				t.Fatalf("kind %q, want %q", kind, tt.kind)
			}
			if o.DialTimeout != DialTimeout || o.ReadTimeout != ReadTimeout || o.WriteTimeout != WriteTimeout ||
				o.PoolTimeout != PoolTimeout || o.MaxRetries != MaxRetries ||
				o.DialerRetries != DialerRetries || o.DialerRetryTimeout != DialerRetryTimeout || !o.DisableIdentity ||
				o.MaintNotificationsConfig == nil || o.MaintNotificationsConfig.Mode != maintnotifications.ModeDisabled {
				t.Fatalf("timeouts/retries not applied: %+v", o)
			}
			tt.check(t, o)
		})
	}
}

func TestOptionsErrorsHidePassword(t *testing.T) {
	_, _, err := Options("redis+sentinel://:s3cret@127.0.0.1:26379")
	if err == nil {
		t.Fatal("no error for a sentinel URL without master name")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error leaks the password: %v", err)
	}
}

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
	c, err := NewClient(s.URL())
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

func TestHandshake(t *testing.T) {
	for _, name := range []string{"hello", "auth", "select", "client", "readonly"} {
		if !Handshake(name) {
			t.Errorf("Handshake(%q) = false", name)
		}
	}
	for _, name := range []string{"get", "getex", "set", "evalsha", "mget", "publish"} {
		if Handshake(name) {
			t.Errorf("Handshake(%q) = true: an application command would go uncounted", name)
		}
	}
}
