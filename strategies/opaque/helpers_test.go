package opaque

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/internal/redisx/redistest"
)

var (
	alice = identity.Principal{User: "alice", Roles: []string{"user"}}
	bob   = identity.Principal{User: "bob", Roles: []string{"admin", "user"}}
)

// fakeClock is an injectable clock advanced by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// cmdCounter is a go-redis hook counting the commands a client sends, by
// lower-case name. When gate is set, every GET waits on it before it is
// sent; when after is set, every GET signals reached once Redis has
// answered and then waits on after.
type cmdCounter struct {
	mu      sync.Mutex
	counts  map[string]int
	gate    chan struct{}
	after   chan struct{}
	reached chan struct{}
}

func (h *cmdCounter) inc(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts == nil {
		h.counts = map[string]int{}
	}
	h.counts[name]++
}

// n returns how many name commands were sent.
func (h *cmdCounter) n(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[name]
}

// total returns how many commands were sent.
func (h *cmdCounter) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.counts {
		n += c
	}
	return n
}

func (h *cmdCounter) setGate(g chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gate = g
}

func (h *cmdCounter) setAfter(after, reached chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.after, h.reached = after, reached
}

func (h *cmdCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.inc(cmd.Name())
		if cmd.Name() != "get" {
			return next(ctx, cmd)
		}
		h.mu.Lock()
		g, after, reached := h.gate, h.after, h.reached
		h.mu.Unlock()
		if g != nil {
			<-g
		}
		err := next(ctx, cmd)
		if after != nil {
			reached <- struct{}{}
			<-after
		}
		return err
	}
}

func (h *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.inc(c.Name())
		}
		return next(ctx, cmds)
	}
}

// env is one Redis and one fingerprint key shared by several instances.
type env struct {
	srv *redistest.Server
	key []byte
}

func newEnv(t testing.TB) *env {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &env{srv: redistest.Start(t), key: key}
}

// instance builds a Strategy with its own Redis client (as a separate
// gateway would have) and a command counter on that client.
func (e *env) instance(t testing.TB, mod func(*Config)) (*Strategy, *cmdCounter) {
	t.Helper()
	c := redistest.Client(t, e.srv)
	h := &cmdCounter{}
	c.AddHook(h)
	cfg := Config{Client: c, FingerprintKey: e.key, Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, h
}

func login(t testing.TB, s *Strategy, p identity.Principal) string {
	t.Helper()
	c, err := s.Login(context.Background(), p)
	if err != nil {
		t.Fatalf("Login(%s): %v", p.User, err)
	}
	return c.Token
}

func mustAuth(t testing.TB, s *Strategy, tok string, want identity.Principal) {
	t.Helper()
	got, err := s.Authenticate(context.Background(), tok)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if got.User != want.User || len(got.Roles) != len(want.Roles) {
		t.Fatalf("Authenticate = %+v, want %+v", got, want)
	}
}

// eventually polls cond every 5 ms until it holds or within elapses: a
// readiness poll for asynchronous events (pub/sub, reconnects), not a sleep.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client returns a plain client of e's Redis (no hook).
func (e *env) client(t testing.TB) redis.UniversalClient {
	t.Helper()
	return redistest.Client(t, e.srv)
}
