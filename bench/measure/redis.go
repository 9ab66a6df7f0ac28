package measure

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/authlab/authlab/internal/redisx"
)

// harnessCommand reports whether a command counted in INFO commandstats
// is not the gateways' work per request: the harness's own INFO, and
// connection set-up (HELLO, CLIENT and its subcommands) and health pings.
func harnessCommand(name string) bool {
	switch name {
	case "info", "hello", "ping", "client":
		return true
	}
	return strings.HasPrefix(name, "client|")
}

// redisInfo runs INFO section against url.
func redisInfo(ctx context.Context, url, section string) (string, error) {
	c, err := redisx.NewClient(url)
	if err != nil {
		return "", err
	}
	defer c.Close()
	s, err := c.Info(ctx, section).Result()
	if err != nil {
		return "", fmt.Errorf("redis INFO %s: %w", section, err)
	}
	return s, nil
}

// RedisVersion returns the redis_version of the Redis at url, or "unknown".
func RedisVersion(ctx context.Context, url string) string {
	s, err := redisInfo(ctx, url, "server")
	if err != nil {
		return "unknown"
	}
	if v := infoField(s, "redis_version"); v != "" {
		return v
	}
	return "unknown"
}

// infoField returns the value of key in an INFO reply.
func infoField(info, key string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), key+":"); ok {
			return v
		}
	}
	return ""
}

// parseCommandStats turns INFO commandstats into command → calls.
// Lines look like "cmdstat_get:calls=12,usec=30,usec_per_call=2.50,...".
func parseCommandStats(info string) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		rest, ok := strings.CutPrefix(line, "cmdstat_")
		if !ok {
			continue
		}
		name, fields, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		for _, f := range strings.Split(fields, ",") {
			if v, ok := strings.CutPrefix(f, "calls="); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					out[name] = n
				}
			}
		}
	}
	return out
}

// CommandDelta returns after − before per command, without the harness's
// own commands, and their sum.
func CommandDelta(before, after map[string]int64) (map[string]int64, int64) {
	out := map[string]int64{}
	var total int64
	for k, v := range after {
		if harnessCommand(k) {
			continue
		}
		if d := v - before[k]; d > 0 {
			out[k] = d
			total += d
		}
	}
	return out, total
}

// RedisCounters reads command counts and used memory from a Redis.
type RedisCounters struct{ URL string }

// Commands returns INFO commandstats as command → calls.
func (r RedisCounters) Commands(ctx context.Context) (map[string]int64, error) {
	s, err := redisInfo(ctx, r.URL, "commandstats")
	if err != nil {
		return nil, err
	}
	return parseCommandStats(s), nil
}

// UsedMemory returns INFO memory's used_memory in bytes.
func (r RedisCounters) UsedMemory(ctx context.Context) (int64, error) {
	s, err := redisInfo(ctx, r.URL, "memory")
	if err != nil {
		return 0, err
	}
	v := infoField(s, "used_memory")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redis used_memory %q: %w", v, err)
	}
	return n, nil
}
