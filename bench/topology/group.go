package topology

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/authlab/authlab/internal/netutil"
	"github.com/authlab/authlab/internal/proc"
)

// startAttempts bounds how often a child is started on fresh ports.
const startAttempts = 3

// GroupConfig configures a Group.
type GroupConfig struct {
	// Exe is the authlab binary the services are started from.
	Exe string
	// LogLevel of every child (default warn: per-request logs cost CPU).
	LogLevel string
	// Output receives the children's stdout and stderr, each line prefixed
	// with the child's name (default discarded).
	Output io.Writer
	Logger *slog.Logger

	// reserve returns a loopback address that was free a moment ago
	// (default proc.FreeLoopbackAddr); tests make it lose races.
	reserve func() (string, error)
}

// Validate checks c and fills defaults.
func (c *GroupConfig) Validate() error {
	if c.Exe == "" {
		return errors.New("topology: no authlab executable")
	}
	if c.LogLevel == "" {
		c.LogLevel = "warn"
	}
	if c.Output == nil {
		c.Output = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.reserve == nil {
		c.reserve = proc.FreeLoopbackAddr
	}
	return nil
}

// Group is the set of processes one topology started, through the process
// supervisor (internal/proc): each in its own process group, killed if the
// harness dies, stopped together, last started first. Its processes share
// one set of Secrets.
type Group struct {
	cfg     GroupConfig
	secrets Secrets

	mu      sync.Mutex
	members []*proc.Process
}

// NewGroup returns an empty group with fresh secrets.
func NewGroup(cfg GroupConfig) (*Group, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Group{cfg: cfg, secrets: NewSecrets()}, nil
}

// Secrets returns the secrets the group's processes share.
func (g *Group) Secrets() Secrets { return g.secrets }

// Service is one child of a Group.
type Service struct {
	// Name names the child in logs, errors and its output's prefix.
	Name string
	// Path is the executable (default the group's authlab binary).
	Path string
	// Env is added to the environment every child inherits (ours, plus
	// AUTHLAB_LOG_LEVEL). Secrets go here, never in Args.
	Env []string
	// Addrs are the addresses the child listens on, at least one: it is
	// ready once GET http://<first>/healthz answers 200. One given is used
	// as is; "" is a freshly reserved loopback address. A child that exits
	// before it is ready (typically: one of its reserved ports was taken
	// before it could bind it) is started again on other fresh addresses
	// (given ones stay: the user chose them).
	Addrs []string
	// Args returns the child's arguments for its addresses.
	Args func(addrs []string) []string
	// ReadyTimeout bounds the wait (default proc.DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// StopTimeout is the grace between SIGTERM and SIGKILL when the group
	// stops (default proc.DefaultStopTimeout).
	StopTimeout time.Duration
}

// Start starts s and waits until it is ready; it returns the process and
// the addresses it listens on. Start fails early when another child of
// the group exits meanwhile.
func (g *Group) Start(ctx context.Context, s Service) (*proc.Process, []string, error) {
	if len(s.Addrs) == 0 || s.Args == nil {
		return nil, nil, fmt.Errorf("topology: service %q needs an address and arguments", s.Name)
	}
	canMove := slices.Contains(s.Addrs, "")
	for attempt := 1; ; attempt++ {
		addrs, err := g.reserve(s.Addrs)
		if err != nil {
			return nil, nil, err
		}
		p, err := g.startOnce(ctx, s, addrs)
		switch {
		case err == nil:
			return p, addrs, nil
		case !errors.Is(err, proc.ErrExited) || !canMove || ctx.Err() != nil:
			return nil, nil, err
		case attempt == startAttempts:
			return nil, nil, fmt.Errorf("%w (%d attempts on fresh ports)", err, startAttempts)
		}
		g.cfg.Logger.Warn("child exited before it was ready; starting it on other ports", "child", s.Name, "attempt", attempt)
	}
}

// reserve returns fixed with every "" replaced by a free loopback address.
func (g *Group) reserve(fixed []string) ([]string, error) {
	addrs := slices.Clone(fixed)
	for i := range addrs {
		if addrs[i] != "" {
			continue
		}
		a, err := g.cfg.reserve()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	return addrs, nil
}

// errOtherExited: another child of the group exited while one was starting.
var errOtherExited = errors.New("exited during start-up")

func (g *Group) startOnce(ctx context.Context, s Service, addrs []string) (*proc.Process, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	g.cancelWhenAnyExits(ctx, cancel)
	tail := &tailBuffer{}
	out := io.MultiWriter(prefixWriter(g.cfg.Output, s.Name), tail)
	path := s.Path
	if path == "" {
		path = g.cfg.Exe
	}
	readyURL := "http://" + addrs[0] + "/healthz"
	p, err := proc.Start(ctx, proc.Spec{
		Name: s.Name, Path: path, Args: s.Args(addrs), Env: g.env(s.Env),
		Stdout: out, Stderr: out,
		Ready: httpReady(readyURL), ReadyTimeout: s.ReadyTimeout, StopTimeout: s.StopTimeout,
	})
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errOtherExited) {
			err = cause
		}
		return nil, tail.annotate(err)
	}
	g.mu.Lock()
	g.members = append(g.members, p)
	g.mu.Unlock()
	return p, nil
}

// cancelWhenAnyExits cancels ctx when a child of the group exits before
// ctx ends.
func (g *Group) cancelWhenAnyExits(ctx context.Context, cancel context.CancelCauseFunc) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.members {
		go func() {
			select {
			case <-m.Done():
				cancel(fmt.Errorf("%s %w (see its output)", m.Name(), errOtherExited))
			case <-ctx.Done():
			}
		}()
	}
}

// env is the environment of a child: ours, the log level, then vars.
func (g *Group) env(vars []string) []string {
	env := append(os.Environ(), "AUTHLAB_LOG_LEVEL="+g.cfg.LogLevel)
	return append(env, vars...)
}

func httpReady(url string) proc.ReadyFunc {
	client := &http.Client{Timeout: time.Second}
	return func(ctx context.Context) error { return netutil.CheckHTTP(ctx, client, url) }
}

// Len returns how many children the group runs.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.members)
}

// Stop stops every child, last started first: SIGTERM, then SIGKILL after
// its stop timeout (5 s; 10 s for an lb). Stopping a stopped group is a no-op.
func (g *Group) Stop() {
	g.mu.Lock()
	members := g.members
	g.members = nil
	g.mu.Unlock()
	for _, p := range slices.Backward(members) {
		if !p.Stop(context.Background()) {
			g.cfg.Logger.Warn("child did not stop on SIGTERM; killed", "child", p.Name())
		}
	}
}
