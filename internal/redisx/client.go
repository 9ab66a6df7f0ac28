// Package redisx builds Redis clients with timeouts fit for a request path
// and starts a Redis server for the harness and the tests.
package redisx

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts used for every client. go-redis defaults (5 s dial, 3 s read, 3
// retries) turn a dead Redis into multi-second request stalls; a gateway
// should rather answer 503 quickly.
const (
	DialTimeout  = 250 * time.Millisecond
	ReadTimeout  = 250 * time.Millisecond
	WriteTimeout = 250 * time.Millisecond
	PoolTimeout  = 300 * time.Millisecond
)

// NewClient returns a redis.UniversalClient for rawURL.
//
// Accepted forms:
//   - redis://[user:pass@]host:port[/db] and rediss:// (single node)
//   - redis+cluster://host1:port,host2:port (Redis Cluster)
//   - redis+sentinel://host1:port,host2:port/mastername (Sentinel)
func NewClient(rawURL string) (redis.UniversalClient, error) {
	if rawURL == "" {
		return nil, fmt.Errorf("redis url is empty")
	}
	switch {
	case strings.HasPrefix(rawURL, "redis+cluster://"), strings.HasPrefix(rawURL, "redis+sentinel://"):
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, fmt.Errorf("parse redis url: %w", err)
		}
		opts := &redis.UniversalOptions{
			Addrs:        strings.Split(u.Host, ","),
			DialTimeout:  DialTimeout,
			ReadTimeout:  ReadTimeout,
			WriteTimeout: WriteTimeout,
			PoolTimeout:  PoolTimeout,
			MaxRetries:   1,
		}
		if u.User != nil {
			opts.Username = u.User.Username()
			opts.Password, _ = u.User.Password()
		}
		if u.Scheme == "redis+sentinel" {
			opts.MasterName = strings.Trim(u.Path, "/")
			if opts.MasterName == "" {
				return nil, fmt.Errorf("redis sentinel url %q: missing master name in path", rawURL)
			}
		} else {
			opts.IsClusterMode = true
		}
		return redis.NewUniversalClient(opts), nil
	default:
		opts, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("parse redis url: %w", err)
		}
		opts.DialTimeout = DialTimeout
		opts.ReadTimeout = ReadTimeout
		opts.WriteTimeout = WriteTimeout
		opts.PoolTimeout = PoolTimeout
		opts.MaxRetries = 1
		// go-redis retries a failed dial 5 times with 100 ms backoff by
		// default: a refused connection then costs ~0.5 s per command.
		opts.DialerRetries = 1
		opts.DialerRetryTimeout = 10 * time.Millisecond
		return redis.NewClient(opts), nil
	}
}
