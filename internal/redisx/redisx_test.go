package redisx

import (
	"strings"
	"testing"

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
			cc, ok := c.(*redis.ClusterClient)
			if !ok {
				t.Fatalf("got %T, want *redis.ClusterClient", c)
			}
			if o := cc.Options(); o.ClusterStateReloadInterval != ClusterStateReloadInterval ||
				o.ReadTimeout != ReadTimeout || o.DialerRetries != DialerRetries || !o.DisableIdentity {
				t.Fatalf("cluster options %+v", o)
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
