package loginlimit

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/redisx/redistest"
)

var fpKey = []byte(strings.Repeat("k", 32))

// clock is a settable clock safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type limiter interface {
	Attempt(ctx context.Context, user string) (time.Duration, error)
	Reset(ctx context.Context, user string) error
}

type impl struct {
	name string
	new  func(t *testing.T, cfg Config) limiter
}

func impls(parent *testing.T) []impl {
	var (
		once   sync.Once
		client redis.UniversalClient
	)
	redisClient := func(t *testing.T) redis.UniversalClient {
		once.Do(func() { client = redistest.Client(parent, redistest.Start(parent)) })
		if err := client.FlushAll(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		return client
	}
	return []impl{
		{"memory", func(t *testing.T, cfg Config) limiter {
			m, err := NewMemory(cfg)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}},
		{"redis", func(t *testing.T, cfg Config) limiter {
			r, err := NewRedis(redisClient(t), fpKey, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}},
	}
}

func attempt(t *testing.T, l limiter, user string) time.Duration {
	t.Helper()
	d, err := l.Attempt(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestGrowthAndExpiry drives the clock: MaxFailures attempts pass, then the
// account is locked for Base, 2×Base, 4×Base… up to Max; a lock ends when
// its time is up; a locked attempt is not counted.
func TestGrowthAndExpiry(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := newClock()
			cfg := Config{MaxFailures: 3, Base: time.Second, Max: 10 * time.Second, Window: time.Hour, Now: clk.Now}
			l := im.new(t, cfg)
			for i := 1; i <= 3; i++ {
				if d := attempt(t, l, "alice"); d != 0 {
					t.Fatalf("attempt %d refused for %v, want allowed", i, d)
				}
			}
			// The third attempt reached the threshold: locked for Base.
			if d := attempt(t, l, "alice"); d != time.Second {
				t.Fatalf("after 3 attempts: retry after %v, want 1s", d)
			}
			clk.Add(400 * time.Millisecond)
			if d := attempt(t, l, "alice"); d != 600*time.Millisecond {
				t.Fatalf("0.4s later: retry after %v, want 600ms (refused attempts are not counted)", d)
			}
			for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
				clk.Add(10 * time.Second) // past any lock
				if d := attempt(t, l, "alice"); d != 0 {
					t.Fatalf("after the lock ended: refused for %v", d)
				}
				if d := attempt(t, l, "alice"); d != want {
					t.Fatalf("lock = %v, want %v", d, want)
				}
			}
		})
	}
}

func TestResetAndIsolation(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := newClock()
			l := im.new(t, Config{MaxFailures: 2, Now: clk.Now})
			attempt(t, l, "Alice")
			attempt(t, l, "ALICE")
			if d := attempt(t, l, "alice"); d == 0 {
				t.Fatal("names differing in case counted apart")
			}
			if d := attempt(t, l, "bob"); d != 0 {
				t.Fatalf("bob refused for %v because of alice", d)
			}
			if err := l.Reset(context.Background(), "aLiCe"); err != nil {
				t.Fatal(err)
			}
			if d := attempt(t, l, "alice"); d != 0 {
				t.Fatalf("after reset: refused for %v", d)
			}
		})
	}
}

// TestWindowForgets: a count is forgotten Window after its last attempt.
func TestWindowForgets(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			clk := newClock()
			l := im.new(t, Config{MaxFailures: 3, Base: time.Second, Max: time.Minute, Window: time.Minute, Now: clk.Now})
			attempt(t, l, "carol")
			attempt(t, l, "carol")
			clk.Add(59 * time.Second)
			attempt(t, l, "carol") // third: locks
			if d := attempt(t, l, "carol"); d == 0 {
				t.Fatal("count forgotten before the window")
			}
			if im.name == "redis" {
				return // Redis forgets by its own (real) clock: PEXPIRE, checked below
			}
			clk.Add(2 * time.Minute)
			for i := range 2 {
				if d := attempt(t, l, "carol"); d != 0 {
					t.Fatalf("attempt %d after the window refused for %v", i+1, d)
				}
			}
		})
	}
}

func TestRedisKeysAreFingerprintsWithTTL(t *testing.T) {
	srv := redistest.Start(t)
	client := redistest.Client(t, srv)
	ctx := context.Background()
	l, err := NewRedis(client, fpKey, Config{MaxFailures: 1, Window: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Attempt(ctx, "Mallory.Secret"); err != nil {
		t.Fatal(err)
	}
	keys, err := client.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("keys = %v, want a count and a lock", keys)
	}
	for _, k := range keys {
		if strings.Contains(strings.ToLower(k), "mallory") {
			t.Fatalf("key %q holds the account name", k)
		}
		ttl, err := client.PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 {
			t.Fatalf("key %q has no expiry (pttl %v, err %v)", k, ttl, err)
		}
	}
}

// TestRedisShared: two limiters (two instances) on one Redis share counts.
func TestRedisShared(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := NewRedis(redistest.Client(t, srv), fpKey, Config{MaxFailures: 2})
	b, _ := NewRedis(redistest.Client(t, srv), fpKey, Config{MaxFailures: 2})
	attempt(t, a, "dave")
	attempt(t, b, "dave")
	if d := attempt(t, a, "dave"); d <= 0 || d > DefaultBase {
		t.Fatalf("instance a after one attempt on each: retry %v, want locked up to %v", d, DefaultBase)
	}
	if err := b.Reset(context.Background(), "dave"); err != nil {
		t.Fatal(err)
	}
	if d := attempt(t, a, "dave"); d != 0 {
		t.Fatalf("reset on b not seen by a: %v", d)
	}
}

func TestRedisDownIsAnError(t *testing.T) {
	srv := redistest.Start(t)
	l, _ := NewRedis(redistest.Client(t, srv), fpKey, Config{})
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Attempt(context.Background(), "erin"); err == nil {
		t.Fatal("Attempt with Redis down: no error")
	}
	if err := l.Reset(context.Background(), "erin"); err == nil {
		t.Fatal("Reset with Redis down: no error")
	}
}

// TestMemoryBounded: the table never exceeds MaxAccounts; the account idle
// longest goes first.
func TestMemoryBounded(t *testing.T) {
	clk := newClock()
	m, _ := NewMemory(Config{MaxFailures: 2, Base: time.Minute, MaxAccounts: 3, Now: clk.Now})
	for _, u := range []string{"u1", "u2", "u3", "u1", "u4"} {
		clk.Add(time.Second)
		attempt(t, m, u)
	}
	if m.Len() != 3 {
		t.Fatalf("Len = %d, want 3", m.Len())
	}
	// u2 (idle longest) was dropped; u1 kept its count of 2 → locked.
	if d := attempt(t, m, "u1"); d == 0 {
		t.Fatal("u1 lost its count")
	}
	if d := attempt(t, m, "u2"); d != 0 {
		t.Fatalf("u2 still counted (refused %v)", d)
	}
}

// TestConcurrentBurst: of many parallel attempts on a fresh account, only
// MaxFailures pass.
func TestConcurrentBurst(t *testing.T) {
	for _, im := range impls(t) {
		t.Run(im.name, func(t *testing.T) {
			l := im.new(t, Config{MaxFailures: 5})
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				passed int
			)
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if d, err := l.Attempt(context.Background(), "burst"); err == nil && d == 0 {
						mu.Lock()
						passed++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if passed != 5 {
				t.Fatalf("%d of 50 parallel attempts passed, want 5", passed)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]Config{
		"negative failures": {MaxFailures: -1},
		"base below 1ms":    {Base: time.Microsecond},
		"max below base":    {Base: time.Minute, Max: time.Second},
		"window below max":  {Max: time.Hour, Window: time.Minute},
		"negative accounts": {MaxAccounts: -1},
	} {
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	if _, err := NewRedis(nil, fpKey, Config{}); err == nil {
		t.Fatal("nil client accepted")
	}
}
