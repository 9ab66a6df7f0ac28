package topology

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestValidRedisNet(t *testing.T) {
	tests := []struct {
		name    string
		deploy  string
		net     *RedisNet
		wantErr string
	}{
		{"no proxy, cluster", RedisCluster, nil, ""},
		{"single", RedisSingle, &RedisNet{Latency: time.Millisecond, Jitter: 200 * time.Microsecond}, ""},
		{"cluster refused", RedisCluster, &RedisNet{Latency: time.Millisecond}, "single Redis"},
		{"sentinel refused", RedisSentinel, &RedisNet{}, "single Redis"},
		{"negative", RedisSingle, &RedisNet{Latency: -time.Millisecond}, "≥ 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{RedisDeployment: tc.deploy, RedisNet: tc.net}
			err := c.validRedisNet()
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("validRedisNet() = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestRedisProxyWiring: the gateways' Redis URL points at the proxy, which
// forwards to Redis's address with the latency asked for; the harness's
// own URL still points at Redis. A TCP echo server stands in for Redis.
func TestRedisProxyWiring(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	redisURL := "redis://" + ln.Addr().String() + "/0"

	plain := &Topology{RedisURL: redisURL}
	if err := plain.startRedisProxy(context.Background()); err != nil || plain.redisURLForGateways() != redisURL || plain.RedisProxy != nil {
		t.Fatalf("without RedisNet: err %v, gateways' URL %q, proxy %v", err, plain.redisURLForGateways(), plain.RedisProxy)
	}

	const rtt = 20 * time.Millisecond
	topo := &Topology{cfg: Config{RedisNet: &RedisNet{Latency: rtt}}, RedisURL: redisURL}
	if err := topo.startRedisProxy(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer topo.closeRedisProxy()
	if topo.RedisURL != redisURL {
		t.Errorf("harness URL changed to %q", topo.RedisURL)
	}
	u, err := url.Parse(topo.redisURLForGateways())
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "redis" || u.Path != "/0" || u.Host != topo.RedisProxy.Addr() || u.Host == ln.Addr().String() {
		t.Fatalf("gateways' URL %s, want redis://%s/0", u, topo.RedisProxy.Addr())
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if _, err := c.Write([]byte("PING\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "PING\n" {
		t.Fatalf("through the proxy: %q, %v", line, err)
	}
	if took := time.Since(start); took < rtt { // latency only adds: a lower bound
		t.Errorf("round trip through the proxy took %s, want ≥ %s", took, rtt)
	}
	topo.closeRedisProxy()
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		c.Close()
		t.Error("proxy still listening after closeRedisProxy")
	}
}
