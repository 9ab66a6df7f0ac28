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
	addr, err := netutil.FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: addr, logger: logger}
	if bin, err := exec.LookPath("redis-server"); err == nil {
		s.bin = bin
		s.Kind = KindRedisServer
	} else {
		s.Kind = KindEmbedded
		logger.Warn("redis-server not found on PATH: using the EMBEDDED miniredis fallback; " +
			"its timings are not a real Redis's (install redis-server for real measurements)")
	}
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
		s.mini = m
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
