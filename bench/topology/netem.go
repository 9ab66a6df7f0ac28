package topology

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/authlab/authlab/bench/netem"
)

// RedisNet puts a fault-injecting proxy (package netem) between every
// gateway and a single Redis. The gateways get the proxy's URL; the
// harness (command counters, used_memory) keeps talking to Redis
// directly. Only for a single Redis: a Cluster or Sentinel group hands
// its clients the nodes' own addresses, which one proxy cannot stand in
// front of.
type RedisNet struct {
	// Latency is the round trip added to every Redis exchange (on the
	// replies); Jitter is ± on it (uniform).
	Latency, Jitter time.Duration
}

// validRedisNet checks c.RedisNet against the Redis deployment.
func (c *Config) validRedisNet() error {
	n := c.RedisNet
	if n == nil {
		return nil
	}
	if c.RedisDeployment != RedisSingle {
		return fmt.Errorf("topology: Redis network conditions (--redis-latency, --redis-jitter, redis-rtt, redis-hang) need a single Redis, not %s: its clients talk to every node's own address", c.RedisDeployment)
	}
	if n.Latency < 0 || n.Jitter < 0 {
		return fmt.Errorf("topology: Redis latency and jitter must be ≥ 0, got %s ± %s", n.Latency, n.Jitter)
	}
	return nil
}

// startRedisProxy starts the proxy in front of t.RedisURL when the
// configuration asks for one.
func (t *Topology) startRedisProxy(ctx context.Context) error {
	n := t.cfg.RedisNet
	if n == nil {
		return nil
	}
	u, err := url.Parse(t.RedisURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("topology: Redis URL has no host:port for the proxy to forward to")
	}
	p, err := netem.Start(u.Host)
	if err != nil {
		return err
	}
	t.RedisProxy = p
	if err := p.SetLatency(ctx, n.Latency, n.Jitter); err != nil {
		return err
	}
	u.Host = p.Addr()
	t.gatewayRedisURL = u.String()
	return nil
}

// redisURLForGateways is the proxy's URL when there is one, else Redis's.
func (t *Topology) redisURLForGateways() string {
	if t.gatewayRedisURL != "" {
		return t.gatewayRedisURL
	}
	return t.RedisURL
}

// closeRedisProxy stops the proxy, if any.
func (t *Topology) closeRedisProxy() {
	if t.RedisProxy != nil {
		_ = t.RedisProxy.Close()
	}
}

// UpstreamNet puts a fault-injecting proxy before every gateway an lb
// forwards to: each lb is started with --upstream-latency and
// --upstream-jitter, and itself runs one netem proxy (in-process
// toxiproxy) per gateway it starts, routing the gateway's requests and
// health checks through it (lb.Config.Front). The lb, not the harness,
// holds the proxies because it alone chooses a gateway's ports, at start
// and when a revive moves it to fresh ones: it re-points (a new proxy
// before the new ports) in the same step, with no moment of direct
// traffic and no protocol between two processes. The gateways' admin
// addresses stay direct: kill, heap readings and the revocation polls
// measure the gateways, not the link.
type UpstreamNet struct {
	// Latency is the round trip added to every lb↔gateway exchange (on
	// the replies); Jitter is ± on it (uniform).
	Latency, Jitter time.Duration
}

// validate checks n (nil: no proxy).
func (n *UpstreamNet) validate() error {
	if n != nil && (n.Latency < 0 || n.Jitter < 0) {
		return fmt.Errorf("topology: upstream (lb↔gateway) latency and jitter must be ≥ 0, got %s ± %s", n.Latency, n.Jitter)
	}
	return nil
}

// lbArgs are the lb flags that ask for the proxies (none when n is nil or
// adds nothing).
func (n *UpstreamNet) lbArgs() []string {
	if n == nil || (n.Latency == 0 && n.Jitter == 0) {
		return nil
	}
	return []string{"--upstream-latency", n.Latency.String(), "--upstream-jitter", n.Jitter.String()}
}
