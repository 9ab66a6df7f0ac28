package bench

import (
	"github.com/authlab/authlab/bench/scenario"
	"github.com/authlab/authlab/bench/topology"
)

// redisNet is the proxy the topology puts between the gateways and Redis:
// when a latency or jitter is asked for (an error with a replicated
// Redis, which topology.Config.Validate reports), or when a scenario
// needs one and Redis is single (with a replicated Redis those scenarios
// skip). Nil: no proxy.
func (c *Config) redisNet() *topology.RedisNet {
	if c.RedisLatency != 0 || c.RedisJitter != 0 {
		return &topology.RedisNet{Latency: c.RedisLatency, Jitter: c.RedisJitter}
	}
	single := c.RedisDeployment == "" || c.RedisDeployment == topology.RedisSingle
	if single && scenario.NeedsRedisNet(c.Scenarios) {
		return &topology.RedisNet{}
	}
	return nil
}

// upstreamNet is the proxy each lb puts before its gateways when an
// upstream latency or jitter is asked for (negative values reach
// topology.Config.Validate, which refuses them). Nil: no proxy.
func (c *Config) upstreamNet() *topology.UpstreamNet {
	if c.UpstreamLatency == 0 && c.UpstreamJitter == 0 {
		return nil
	}
	return &topology.UpstreamNet{Latency: c.UpstreamLatency, Jitter: c.UpstreamJitter}
}
