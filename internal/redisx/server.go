package redisx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/netutil"
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
	cmd  *exec.Cmd
	done chan struct{}
	mini *miniredis.Miniredis
	// miniStop ends the embedded server's clock goroutine, which closes
	// miniClockDone when it has returned.
	miniStop, miniClockDone chan struct{}
}

// URL returns the redis:// URL of s.
func (s *Server) URL() string { return "redis://" + s.Addr }

// StartServer starts a Redis on a free loopback port: redis-server from PATH
// when present, else an embedded miniredis (with a warning: miniredis is a
// test double, its latency is not a real Redis's).
func StartServer(ctx context.Context, logger *slog.Logger) (*Server, error) {
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
	addr, err := netutil.FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: addr, Kind: kind, bin: bin, logger: logger}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	s.Version = s.readVersion(ctx)
	return s, nil
}

func (s *Server) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Kind == KindEmbedded {
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
	host, port, _ := strings.Cut(s.Addr, ":")
	cmd := exec.Command(s.bin,
		"--port", port, "--bind", host,
		"--save", "", "--appendonly", "no",
		"--protected-mode", "yes", "--daemonize", "no",
		"--loglevel", "warning", "--logfile", "")
	cmd.Stdout, cmd.Stderr = nil, nil
	// Own process group so a kill reaches redis-server and nothing else;
	// Pdeathsig stops it if we die without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.waitPing(wctx, done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return err
	}
	return nil
}

func (s *Server) waitPing(ctx context.Context, exited <-chan struct{}) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	for {
		if err := c.Ping(ctx).Err(); err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited during start-up", s.Addr)
		case <-ctx.Done():
			return fmt.Errorf("redis-server on %s not ready: %w", s.Addr, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
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
	if s.cmd == nil {
		return nil
	}
	err := s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill redis-server: %w", err)
	}
	return nil
}

// Running reports whether the server is up (as far as we started it).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mini != nil || s.cmd != nil
}

// Restart starts the server again on the same address (empty: nothing was
// persisted) and waits until it answers PING.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	var err error
	// The port was just released; another process could grab it, and the
	// kernel may need a moment: retry briefly.
	for range 50 {
		if err = s.start(ctx); err == nil {
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
