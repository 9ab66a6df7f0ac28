// Package redisserver starts a Redis the harness or a test owns: a
// redis-server child process (through internal/proc) when one is on PATH,
// else the embedded miniredis fallback, which moves its clock in real time.
// It lives apart from package redisx (the client side) so that the gateway,
// the strategies and the services, which only ever talk to a Redis, do not
// link miniredis; only the harness and redistest import it.
package redisserver

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/proc"
)

// Kinds of Redis a Server can be.
const (
	KindRedisServer = "redis-server"         // a real redis-server child process
	KindEmbedded    = "embedded (miniredis)" // in-process fallback
	KindExternal    = "external"             // REDIS_URL, not ours
)

// Server is a Redis owned by the harness or a test: a redis-server child
// process when one is on PATH, otherwise an embedded miniredis.
type Server struct {
	// Addr is host:port on loopback.
	Addr string
	// Kind is KindRedisServer or KindEmbedded.
	Kind string
	// Version is the server's reported version.
	Version string

	logger *slog.Logger
	bin    string

	mu   sync.Mutex
	proc *proc.Process
	mini *miniredis.Miniredis
	// miniStop ends the embedded server's clock goroutine, which closes
	// miniClockDone when it has returned.
	miniStop, miniClockDone chan struct{}
}

// URL returns the redis:// URL of s.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Start starts a Redis on a free loopback port: redis-server from PATH
// when present, else an embedded miniredis (with a warning: miniredis is a
// test double, its latency is not a real Redis's).
func Start(ctx context.Context, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		logger.Warn("redis-server not found on PATH: using the EMBEDDED miniredis fallback; " +
			"its timings are not a real Redis's (install redis-server for real measurements)")
		return startKind(ctx, logger, KindEmbedded, "")
	}
	return startKind(ctx, logger, KindRedisServer, bin)
}

// StartEmbedded starts the embedded miniredis fallback on a free loopback
// port, whether or not redis-server is installed (tests use it to prove the
// fallback passes what a real server passes).
func StartEmbedded(ctx context.Context, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	return startKind(ctx, logger, KindEmbedded, "")
}

func startKind(ctx context.Context, logger *slog.Logger, kind, bin string) (*Server, error) {
	s := &Server{Kind: kind, bin: bin, logger: logger}
	if kind == KindEmbedded {
		addr, err := proc.FreeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		s.Addr = addr
		if err := s.startEmbedded(); err != nil {
			return nil, err
		}
	} else {
		// A port taken between reservation and bind makes redis-server exit:
		// proc starts it again on another port.
		p, addr, err := proc.StartOnFreePort(ctx, 0, s.spec)
		if err != nil {
			return nil, fmt.Errorf("start redis-server: %w", err)
		}
		s.proc, s.Addr = p, addr
	}
	s.Version = s.readVersion(ctx)
	return s, nil
}

// spec describes a non-persistent redis-server on addr.
func (s *Server) spec(addr string) proc.Spec {
	host, port, _ := strings.Cut(addr, ":")
	return proc.Spec{
		Name: "redis-server", Path: s.bin,
		Args: []string{"--port", port, "--bind", host,
			"--save", "", "--appendonly", "no",
			"--protected-mode", "yes", "--daemonize", "no",
			"--loglevel", "warning", "--logfile", ""},
		Ready:        pingReady(addr),
		ReadyTimeout: 10 * time.Second,
	}
}

func pingReady(addr string) proc.ReadyFunc {
	return func(ctx context.Context) error {
		c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
		defer c.Close()
		return c.Ping(ctx).Err()
	}
}

func (s *Server) startEmbedded() error {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(s.Addr); err != nil {
		return fmt.Errorf("start embedded redis on %s: %w", s.Addr, err)
	}
	stop := make(chan struct{})
	clockDone := make(chan struct{})
	go func() {
		defer close(clockDone)
		newRealTimeClock(m, time.Now).run(stop, tickInterval)
	}()
	s.mini, s.miniStop, s.miniClockDone = m, stop, clockDone
	return nil
}

func (s *Server) readVersion(ctx context.Context) string {
	if s.Kind == KindEmbedded {
		return "miniredis"
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return "unknown"
}

// Embedded reports whether s is the embedded fallback, whose timings are
// not a real Redis's.
func (s *Server) Embedded() bool { return s.Kind == KindEmbedded }

// PID returns the redis-server's process id (0 for the embedded server or
// a stopped one).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.PID()
}

// Stop kills the server (SIGKILL for redis-server: no save, connections
// reset) and waits until it is gone. Stopping a stopped server is a no-op.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mini != nil {
		close(s.miniStop)
		<-s.miniClockDone
		s.mini.Close()
		s.mini = nil
		return nil
	}
	if s.proc != nil {
		s.proc.Kill()
		s.proc = nil
	}
	return nil
}

// Running reports whether the server is up (as far as we started it).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mini != nil || (s.proc != nil && !s.proc.Exited())
}

// Restart starts the server again on the same address (empty: nothing was
// persisted) and waits until it answers PING.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	var err error
	// The port was just released; another process could grab it, and the
	// kernel may need a moment: retry briefly. (Clients know this address,
	// so moving to another port is no option here.)
	for range 50 {
		if err = s.restartOnce(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("restart redis on %s: %w", s.Addr, err)
}

func (s *Server) restartOnce(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Kind == KindEmbedded {
		return s.startEmbedded()
	}
	p, err := proc.Start(ctx, s.spec(s.Addr))
	if err != nil {
		return err
	}
	s.proc = p
	return nil
}

// realTimeClock makes miniredis expire keys in real time. miniredis only
// moves TTLs when told (FastForward), so a goroutine fast-forwards it by the
// real time elapsed, every tickInterval: a key given PEXPIRE 10 is gone
// within a few milliseconds of its deadline, as in Redis.
//
// (A pre-command hook would be exact, but miniredis calls hooks for the
// commands of a Lua script while holding its own lock, which FastForward
// needs: it deadlocks.) FastForward walks every key, so with many keys the
// clock forwards at most once per ten times the last walk's duration: the
// walk costs at most ~10% of a core, and expiry is late by at most that gap.
type realTimeClock struct {
	m   *miniredis.Miniredis
	now func() time.Time

	last   time.Time
	minGap time.Duration
}

// tickInterval is how often the embedded server's clock moves.
const tickInterval = 2 * time.Millisecond

func newRealTimeClock(m *miniredis.Miniredis, now func() time.Time) *realTimeClock {
	return &realTimeClock{m: m, now: now, last: now()}
}

// tick fast-forwards the server by the time elapsed since the last forward.
// A clock that went backwards is ignored until it passes its last reading.
func (c *realTimeClock) tick() {
	now := c.now()
	elapsed := now.Sub(c.last)
	if elapsed <= 0 || elapsed < c.minGap {
		return
	}
	start := time.Now()
	c.m.FastForward(elapsed)
	c.last = now
	c.minGap = 10 * time.Since(start)
}

// run ticks every interval until stop is closed.
func (c *realTimeClock) run(stop <-chan struct{}, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			c.tick()
		}
	}
}
