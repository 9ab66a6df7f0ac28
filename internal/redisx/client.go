// Package redisx builds Redis clients with timeouts fit for a request path
// and starts a Redis server for the harness and the tests.
package redisx

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Timeouts and retry settings used for every client, single node, Cluster
// and Sentinel alike. go-redis defaults (5 s dial, 3 s read, 3 retries, 5
// dial attempts 100 ms apart) turn a dead Redis into multi-second request
// stalls; a gateway should rather answer 503 quickly.
const (
	DialTimeout  = 250 * time.Millisecond
	ReadTimeout  = 250 * time.Millisecond
	WriteTimeout = 250 * time.Millisecond
	PoolTimeout  = 300 * time.Millisecond
	// MaxRetries is the number of retries of a failed command (one).
	MaxRetries = 1
	// DialerRetries is the number of dial attempts per connection: go-redis
	// retries a refused dial 5 times with 100 ms backoff by default, so a
	// refused connection cost ~0.5 s per command.
	DialerRetries      = 1
	DialerRetryTimeout = 10 * time.Millisecond
	// ClusterStateReloadInterval bounds how stale a Cluster client's slot
	// map gets. go-redis reloads it on a MOVED/ASK redirect or after this
	// long (60 s by default); a dead master redirects nothing, so with the
	// default a client kept sending a failed-over shard's keys to the dead
	// node for ~60 s after the cluster had promoted a replica (~8 s).
	ClusterStateReloadInterval = time.Second
)

// Kinds of Redis deployment a URL names.
const (
	TopologySingle   = "single"
	TopologyCluster  = "cluster"
	TopologySentinel = "sentinel"
)

// Options parses rawURL into go-redis universal options with the project's
// timeouts and retry settings applied.
//
// Accepted forms:
//   - redis://[user:pass@]host:port[/db] and rediss:// (single node)
//   - redis+cluster://[user:pass@]host1:port,host2:port (Redis Cluster)
//   - redis+sentinel://[user:pass@]host1:port,host2:port/mastername[/db]
//     (Sentinel; the password is the data nodes' password, and also the
//     sentinels' when they require one)
func Options(rawURL string) (*redis.UniversalOptions, string, error) {
	if rawURL == "" {
		return nil, "", fmt.Errorf("redis url is empty")
	}
	var (
		opts *redis.UniversalOptions
		kind string
	)
	switch {
	case strings.HasPrefix(rawURL, "redis+cluster://"), strings.HasPrefix(rawURL, "redis+sentinel://"):
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, "", fmt.Errorf("parse redis url: %w", err)
		}
		if u.Host == "" {
			return nil, "", fmt.Errorf("redis url %q: no host", redactURL(rawURL))
		}
		opts = &redis.UniversalOptions{Addrs: strings.Split(u.Host, ",")}
		for _, a := range opts.Addrs {
			if _, _, err := splitHostPort(a); err != nil {
				return nil, "", fmt.Errorf("redis url %q: %w", redactURL(rawURL), err)
			}
		}
		if u.User != nil {
			opts.Username = u.User.Username()
			opts.Password, _ = u.User.Password()
		}
		if u.Scheme == "redis+sentinel" {
			kind = TopologySentinel
			path := strings.Split(strings.Trim(u.Path, "/"), "/")
			opts.MasterName = path[0]
			if opts.MasterName == "" {
				return nil, "", fmt.Errorf("redis sentinel url %q: missing master name in path", redactURL(rawURL))
			}
			if len(path) > 1 {
				db, err := strconv.Atoi(path[1])
				if err != nil || db < 0 {
					return nil, "", fmt.Errorf("redis sentinel url %q: bad db %q", redactURL(rawURL), path[1])
				}
				opts.DB = db
			}
			opts.SentinelUsername, opts.SentinelPassword = opts.Username, opts.Password
		} else {
			kind = TopologyCluster
			opts.IsClusterMode = true
		}
	default:
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, "", fmt.Errorf("parse redis url: %w", err)
		}
		kind = TopologySingle
		opts = &redis.UniversalOptions{
			Addrs: []string{o.Addr}, DB: o.DB, Username: o.Username, Password: o.Password,
			TLSConfig: o.TLSConfig, ClientName: o.ClientName, Protocol: o.Protocol,
		}
	}
	opts.DialTimeout = DialTimeout
	opts.ReadTimeout = ReadTimeout
	opts.WriteTimeout = WriteTimeout
	opts.PoolTimeout = PoolTimeout
	opts.MaxRetries = MaxRetries
	opts.DialerRetries = DialerRetries
	opts.DialerRetryTimeout = DialerRetryTimeout
	// No CLIENT SETINFO and no CLIENT MAINT_NOTIFICATIONS on connect: a
	// round trip less each per new connection, and Redis 7.0 rejects both.
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return opts, kind, nil
}

// NewClient returns a redis.UniversalClient for rawURL (see Options): a
// *redis.Client, *redis.ClusterClient or failover *redis.Client.
func NewClient(rawURL string) (redis.UniversalClient, error) {
	opts, kind, err := Options(rawURL)
	if err != nil {
		return nil, err
	}
	if kind == TopologySingle {
		// Parse again so query options of the URL (pool_size=…) are kept;
		// the timeouts and retries are ours whatever the URL says.
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("parse redis url: %w", err)
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout
		o.MaxRetries, o.DialerRetries, o.DialerRetryTimeout = opts.MaxRetries, opts.DialerRetries, opts.DialerRetryTimeout
		o.DisableIdentity = opts.DisableIdentity
		o.MaintNotificationsConfig = opts.MaintNotificationsConfig
		return redis.NewClient(o), nil
	}
	if kind == TopologyCluster {
		co := opts.Cluster()
		co.ClusterStateReloadInterval = ClusterStateReloadInterval
		return redis.NewClusterClient(co), nil
	}
	return redis.NewUniversalClient(opts), nil
}

func splitHostPort(a string) (string, string, error) {
	i := strings.LastIndexByte(a, ':')
	if i <= 0 || i == len(a)-1 {
		return "", "", fmt.Errorf("address %q: want host:port", a)
	}
	if _, err := strconv.Atoi(a[i+1:]); err != nil {
		return "", "", fmt.Errorf("address %q: bad port", a)
	}
	return a[:i], a[i+1:], nil
}

// redactURL hides the password of a Redis URL for error messages and logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Handshake reports whether a command (by its lower-case name) is one
// go-redis sends on each new connection (HELLO, AUTH, SELECT, CLIENT …,
// READONLY): connection management, not an application's call. Command
// counters skip them so "Redis commands per request" counts requests.
func Handshake(name string) bool {
	switch name {
	case "hello", "auth", "select", "client", "readonly":
		return true
	}
	return false
}
