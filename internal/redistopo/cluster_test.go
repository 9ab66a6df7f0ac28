package redistopo

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestCluster(t *testing.T) {
	needRedis(t)
	t.Parallel()
	ctx := context.Background()
	cfg := ClusterConfig{}
	if w := testOutput(t); w != nil {
		cfg.Output = w
	}
	began := time.Now()
	c, err := StartCluster(ctx, cfg)
	if err != nil {
		t.Fatalf("StartCluster: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	t.Logf("cluster of 6 nodes up in %v: %s", time.Since(began).Round(time.Millisecond), c.URL())

	masters, err := c.Masters(ctx)
	if err != nil || len(masters) != 3 {
		t.Fatalf("Masters = %v, %v; want 3", masters, err)
	}

	cl := client(t, c.URL())
	cc, ok := cl.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("redisx.NewClient(%s) = %T: %v", c.URL(), cl, errNotCluster)
	}
	exercise(t, ctx, cl)

	// The keys really are spread over the three masters.
	var mu sync.Mutex
	perMaster := map[string]int64{}
	err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		mu.Lock()
		perMaster[m.Options().Addr] = n
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(perMaster) != 3 {
		t.Fatalf("keys on %d masters (%v), want 3", len(perMaster), perMaster)
	}
	for m, n := range perMaster {
		if n == 0 {
			t.Fatalf("master %s holds no key: %v", m, perMaster)
		}
	}
	// Slot agrees with the server's CLUSTER KEYSLOT, and a script over
	// keys of different slots is refused: this is a real cluster.
	for _, k := range []string{"session:1", "{user1}:a", "foo{bar}{zap}", "somekey"} {
		if s, err := cc.ClusterKeySlot(ctx, k).Result(); err != nil || int(s) != Slot(k) {
			t.Fatalf("CLUSTER KEYSLOT %s = %d, %v; Slot = %d", k, s, err, Slot(k))
		}
	}
	err = redis.NewScript(`return redis.call('MGET', KEYS[1], KEYS[2])`).Run(ctx, cl, []string{"foo", "bar"}).Err()
	if !isCrossSlot(err) {
		t.Fatalf("script over two slots: %v, want CROSSSLOT", err)
	}

	// Failover: a write acknowledged by the replica (WAIT) survives the
	// loss of its master; the client recovers by itself.
	const key = "session:42"
	old, err := c.MasterOf(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	waitReplicated(t, ctx, old, "{session:42}durable", "kept", 1)
	// The redisx client (the gateways') reloads the slot map every
	// redisx.ClusterStateReloadInterval: go-redis reloads it only on MOVED
	// or ASK and every 60 s by default, and a dead master answers neither,
	// so with the default a client took ~60 s to follow a failover that
	// took the cluster ~8 s.
	killed, now, failover, rs := recovery(t, ctx,
		func() (string, error) { return c.KillMaster(ctx, key) },
		func(ctx context.Context, old string) (string, error) { return c.WaitNewMaster(ctx, key, old) },
		map[string]redis.UniversalClient{"redisx": cl}, key)
	if killed != old {
		t.Fatalf("KillMaster killed %s, the master of %s was %s", killed, key, old)
	}
	t.Logf("RECOVERY (cluster, cluster-node-timeout %v): new master %s serves writes %v after the kill",
		DefaultFailureDetection, now, failover.Round(time.Millisecond))
	for _, r := range rs {
		t.Logf("RECOVERY (cluster): client %s: first successful write %v after the kill (%d writes failed)",
			r.name, r.after.Round(time.Millisecond), r.failed)
		// Generous: the client must follow the failover within a few
		// reload intervals of it, not the 60 s of go-redis's default.
		if lag := r.after - failover; lag > 20*time.Second {
			t.Errorf("client %s followed the new master %v after the cluster had one", r.name, lag.Round(time.Millisecond))
		}
	}
	if now == old || !slices.Contains(c.Addrs(), now) || slices.Contains(masters, now) {
		t.Fatalf("new master %s: want a former replica (old masters %v)", now, masters)
	}
	if v, err := cl.Get(ctx, "{session:42}durable").Result(); err != nil || v != "kept" {
		t.Fatalf("replicated write after failover = %q, %v", v, err)
	}
	exercise(t, ctx, cl)

	// The old master comes back as the replica of its successor.
	rctx, rcancel := context.WithTimeout(ctx, failoverDeadline)
	defer rcancel()
	if err := c.Restart(rctx, old); err != nil {
		t.Fatalf("Restart(%s): %v", old, err)
	}
	if r, err := role(ctx, old); err != nil || r != "slave" {
		t.Fatalf("restarted old master: role %q, %v", r, err)
	}
	after, err := c.Masters(ctx)
	if err != nil || len(after) != 3 || slices.Contains(after, old) || !slices.Contains(after, now) {
		t.Fatalf("masters after the restart = %v, %v; want 3 with %s and without %s", after, err, now, old)
	}

	if err := c.Kill("127.0.0.1:1"); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("Kill of an unknown address: %v", err)
	}
	checkClosed(t, c, c.Addrs(), c.dir)
}
