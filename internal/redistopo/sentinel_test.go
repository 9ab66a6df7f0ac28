package redistopo

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestSentinel(t *testing.T) {
	needRedis(t)
	t.Parallel()
	ctx := context.Background()
	cfg := SentinelConfig{}
	if w := testOutput(t); w != nil {
		cfg.Output = w
	}
	began := time.Now()
	s, err := StartSentinel(ctx, cfg)
	if err != nil {
		t.Fatalf("StartSentinel: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	t.Logf("sentinel group (1 master, 2 replicas, 3 sentinels) up in %v: %s", time.Since(began).Round(time.Millisecond), s.URL())

	old, err := s.Master(ctx)
	if err != nil || old != s.Addrs()[0] {
		t.Fatalf("Master = %s, %v; want the first data node %s", old, err, s.Addrs()[0])
	}
	cl := client(t, s.URL())
	if _, ok := cl.(*redis.Client); !ok {
		t.Fatalf("redisx.NewClient(%s) = %T, want a failover *redis.Client", s.URL(), cl)
	}
	exercise(t, ctx, cl)
	// The failover client writes to the master the sentinels name.
	if err := onNode(ctx, old, func(d *redis.Client) error {
		v, err := d.Get(ctx, "session:7").Result()
		if err == nil && v != "vsession:7" {
			err = errors.New("wrong value " + v)
		}
		return err
	}); err != nil {
		t.Fatalf("key written through the sentinel client, read on the master %s: %v", old, err)
	}

	const key = "session:42"
	waitReplicated(t, ctx, old, "durable", "kept", 2)
	killed, now, failover, rs := recovery(t, ctx,
		func() (string, error) { return s.KillMaster(ctx, key) },
		func(ctx context.Context, old string) (string, error) { return s.WaitNewMaster(ctx, key, old) },
		map[string]redis.UniversalClient{"redisx": cl}, key)
	if killed != old {
		t.Fatalf("KillMaster killed %s, the master was %s", killed, old)
	}
	t.Logf("RECOVERY (sentinel, down-after %v): new master %s serves writes %v after the kill",
		DefaultFailureDetection, now, failover.Round(time.Millisecond))
	for _, r := range rs {
		t.Logf("RECOVERY (sentinel): client %s: first successful write %v after the kill (%d writes failed)",
			r.name, r.after.Round(time.Millisecond), r.failed)
	}
	if now == old || !slices.Contains(s.Addrs()[1:], now) {
		t.Fatalf("new master %s: want one of the replicas %v", now, s.Addrs()[1:])
	}
	if v, err := cl.Get(ctx, "durable").Result(); err != nil || v != "kept" {
		t.Fatalf("replicated write after failover = %q, %v", v, err)
	}
	exercise(t, ctx, cl)

	// The old master comes back as a replica of the new one.
	rctx, rcancel := context.WithTimeout(ctx, failoverDeadline)
	defer rcancel()
	if err := s.Restart(rctx, old); err != nil {
		t.Fatalf("Restart(%s): %v", old, err)
	}
	if r, err := role(ctx, old); err != nil || r != "slave" {
		t.Fatalf("restarted old master: role %q, %v", r, err)
	}
	if m, err := s.Master(ctx); err != nil || m != now {
		t.Fatalf("master after the restart = %s, %v; want %s", m, err, now)
	}

	if err := s.Kill("127.0.0.1:1"); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("Kill of an unknown address: %v", err)
	}
	checkClosed(t, s, append(s.Addrs(), s.SentinelAddrs()...), s.dir)
}
