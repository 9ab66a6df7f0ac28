package redistopo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/redisx"
)

// failoverDeadline bounds the wait for a client to recover after its
// master was killed: detection (5 s by default) plus election plus the
// client noticing. It is generous on purpose: the time measured is logged,
// not asserted.
const failoverDeadline = 90 * time.Second

func TestMain(m *testing.M) {
	// go-redis logs every failed dial to a killed node on its own.
	redis.SetLogger(quietLogger{})
	os.Exit(m.Run())
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// needRedis skips t where redis-server or redis-cli is missing, and in
// -short mode.
func needRedis(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real redis-server processes (skipped with -short)")
	}
	if _, err := Find(); err != nil {
		t.Skipf("SKIPPED: %v — these tests need real redis-server and redis-cli processes", err)
	}
}

// testOutput is where the Redis processes log: the test log with -v and
// AUTHLAB_TEST_REDIS_LOGS=1, else nowhere.
func testOutput(t *testing.T) *logWriter {
	if os.Getenv("AUTHLAB_TEST_REDIS_LOGS") != "1" {
		return nil
	}
	return &logWriter{t}
}

type logWriter struct{ t *testing.T }

func (w *logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// client opens a redisx client (the gateways' timeouts and retries) on url.
func client(t *testing.T, url string) redis.UniversalClient {
	t.Helper()
	c, err := redisx.NewClient(url)
	if err != nil {
		t.Fatalf("redisx.NewClient(%q): %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exercise runs what the strategies do against c: SET/GET of many keys
// (across slots in a cluster), GETEX sliding an expiry, and a Lua script
// over two keys of one hash-tag slot.
func exercise(t *testing.T, ctx context.Context, c redis.UniversalClient) {
	t.Helper()
	for i := range 300 {
		k := fmt.Sprintf("session:%d", i)
		if err := c.Set(ctx, k, "v"+k, time.Hour).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	for i := range 300 {
		k := fmt.Sprintf("session:%d", i)
		if v, err := c.Get(ctx, k).Result(); err != nil || v != "v"+k {
			t.Fatalf("GET %s = %q, %v; want %q", k, v, err, "v"+k)
		}
	}

	if err := c.Set(ctx, "getex", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.GetEx(ctx, "getex", 100*time.Second).Result(); err != nil || v != "x" {
		t.Fatalf("GETEX = %q, %v", v, err)
	}
	if ttl, err := c.TTL(ctx, "getex").Result(); err != nil || ttl <= 0 || ttl > 100*time.Second {
		t.Fatalf("TTL after GETEX EX 100 = %v, %v", ttl, err)
	}

	script := redis.NewScript(`redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return redis.call('MGET', KEYS[1], KEYS[2])`)
	got, err := script.Run(ctx, c, []string{"{user1}:a", "{user1}:b"}, "lua").StringSlice()
	if err != nil || !slices.Equal(got, []string{"lua", "lua"}) {
		t.Fatalf("script over {user1}:a, {user1}:b = %q, %v", got, err)
	}
}

// recovered is one client's recovery after its master was killed.
type recovered struct {
	name   string
	after  time.Duration // from the kill to the first successful write
	failed int           // writes that failed meanwhile
	err    error         // not recovered within failoverDeadline
}

// recovery kills the master holding key (kill returns its address), then
// measures, concurrently: how long until the deployment names a new master
// that takes writes (wait), and for each client how long until a write of
// key through it succeeds. It fails t when the new master or any client
// does not come within failoverDeadline.
func recovery(t *testing.T, ctx context.Context, kill func() (string, error),
	wait func(ctx context.Context, old string) (string, error), clients map[string]redis.UniversalClient, key string,
) (killed, newMaster string, failover time.Duration, results []recovered) {
	t.Helper()
	killed, err := kill()
	if err != nil {
		t.Fatalf("kill the master: %v", err)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, failoverDeadline)
	defer cancel()
	var wg sync.WaitGroup
	var waitErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		newMaster, waitErr = wait(ctx, killed)
		failover = time.Since(start)
	}()
	results = make([]recovered, 0, len(clients))
	var mu sync.Mutex
	for name, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := recovered{name: name}
			for {
				octx, ocancel := context.WithTimeout(ctx, time.Second)
				r.err = c.Set(octx, key, "after", time.Hour).Err()
				ocancel()
				if r.err == nil {
					r.after = time.Since(start)
					break
				}
				r.failed++
				if ctx.Err() != nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if waitErr != nil {
		t.Fatalf("no new master within %v of killing %s: %v", failoverDeadline, killed, waitErr)
	}
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("client %s not recovered within %v of killing %s (%d writes failed, last: %v)", r.name, failoverDeadline, killed, r.failed, r.err)
		}
	}
	slices.SortFunc(results, func(a, b recovered) int { return strings.Compare(a.name, b.name) })
	return killed, newMaster, failover, results
}

// waitReplicated writes key=value on the master at addr and waits (WAIT)
// until n replicas acknowledged it.
func waitReplicated(t *testing.T, ctx context.Context, addr, key, value string, n int) {
	t.Helper()
	d := redis.NewClient(nodeOptions(addr))
	defer d.Close()
	d.Options().ReadTimeout = 5 * time.Second
	if err := d.Set(ctx, key, value, time.Hour).Err(); err != nil {
		t.Fatalf("SET %s on %s: %v", key, addr, err)
	}
	acked, err := d.Do(ctx, "WAIT", n, 3000).Int()
	if err != nil || acked < n {
		t.Fatalf("WAIT %d: %d replicas acknowledged, %v", n, acked, err)
	}
}

func isCrossSlot(err error) bool {
	return err != nil && strings.Contains(err.Error(), "CROSSSLOT")
}

var errNotCluster = errors.New("not a cluster client")

// checkClosed closes d and checks nothing is left: no node answers, the
// working directory is gone, and a second Close is harmless.
func checkClosed(t *testing.T, d interface{ Close() error }, addrs []string, dir string) {
	t.Helper()
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, a := range addrs {
		if err := pingReady(a)(context.Background()); err == nil {
			t.Fatalf("%s still answers after Close", a)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("working directory %s left behind (%v)", dir, err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
