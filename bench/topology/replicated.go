package topology

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/authlab/authlab/bench/measure"
	"github.com/authlab/authlab/internal/redistopo"
)

// Redis deployments a topology can start (Config.RedisDeployment).
const (
	// RedisSingle is one redis-server (or the embedded fallback).
	RedisSingle = "single"
	// RedisCluster is a local Redis Cluster: 3 masters with a replica each.
	RedisCluster = "cluster"
	// RedisSentinel is a local Sentinel group: a master, 2 replicas and 3
	// sentinels.
	RedisSentinel = "sentinel"
)

// RedisDeployments lists the values of Config.RedisDeployment.
func RedisDeployments() []string { return []string{RedisSingle, RedisCluster, RedisSentinel} }

// ReplicatedRedis is a replicated Redis the topology started
// (redistopo.Cluster or redistopo.Sentinel): it can kill the master holding
// a key, wait for its successor, and start the killed node again.
type ReplicatedRedis interface {
	URL() string
	KillMaster(ctx context.Context, key string) (string, error)
	WaitNewMaster(ctx context.Context, key, old string) (string, error)
	Restart(ctx context.Context, addr string) error
	Close() error
}

// validRedisDeployment checks c.RedisDeployment against c.RedisURL.
func (c *Config) validRedisDeployment() error {
	if c.RedisDeployment == "" {
		c.RedisDeployment = RedisSingle
	}
	if !slices.Contains(RedisDeployments(), c.RedisDeployment) {
		return fmt.Errorf("topology: unknown Redis deployment %q (want one of %s)", c.RedisDeployment, strings.Join(RedisDeployments(), ", "))
	}
	if c.RedisDeployment != RedisSingle && c.RedisURL != "" {
		return fmt.Errorf("topology: an external Redis (REDIS_URL) and a %s started here exclude each other", c.RedisDeployment)
	}
	return nil
}

// startReplicated starts the local cluster or sentinel group named by
// c.RedisDeployment from redis-server processes (it needs redis-server and
// redis-cli: the embedded fallback replicates nothing).
func (t *Topology) startReplicated(ctx context.Context) error {
	var (
		rr  ReplicatedRedis
		err error
	)
	out := t.cfg.Output
	if out == nil {
		out = io.Discard
	}
	switch t.cfg.RedisDeployment {
	case RedisCluster:
		rr, err = redistopo.StartCluster(ctx, redistopo.ClusterConfig{Output: out})
	case RedisSentinel:
		rr, err = redistopo.StartSentinel(ctx, redistopo.SentinelConfig{Output: out})
	}
	if err != nil {
		return fmt.Errorf("start a local Redis %s (needs redis-server and redis-cli on PATH): %w", t.cfg.RedisDeployment, err)
	}
	t.Replicated, t.RedisURL = rr, rr.URL()
	t.RedisKind = "redis-server " + t.cfg.RedisDeployment + " (local processes)"
	t.RedisVersion = measure.RedisVersion(ctx, t.RedisURL)
	return nil
}
