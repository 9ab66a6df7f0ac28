// Package redistopo starts replicated Redis deployments from local
// redis-server processes on free loopback ports, for machines without
// Docker: a Redis Cluster (masters with a replica each, created with
// `redis-cli --cluster create`) and a Sentinel group (a master, replicas and
// sentinels). Every process is started through internal/proc (own process
// group, parent-death signal), so none outlives its owner.
//
// Both deployments can find and SIGKILL the master holding a key, wait
// until a new master serves that key, and start a killed node again — what
// a master-failover experiment needs. Cluster and Sentinel have the same
// method set for that (URL, KillMaster, WaitNewMaster, Restart, Close), so
// a caller can define one small interface over both.
//
// They need redis-server and redis-cli (Debian's redis-server and
// redis-tools); Find reports when either is missing.
package redistopo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/authlab/authlab/internal/proc"
)

// ErrNotInstalled is returned (wrapped) when redis-server or redis-cli is
// not on PATH.
var ErrNotInstalled = errors.New("redis-server or redis-cli not installed")

// ErrUnknownNode is returned (wrapped) by Kill and Restart for an address
// that is not a data node of the deployment.
var ErrUnknownNode = errors.New("no such node")

// Binaries are the programs a deployment runs.
type Binaries struct {
	// Server is redis-server; CLI is redis-cli.
	Server, CLI string
}

// Find looks redis-server and redis-cli up on PATH.
func Find() (Binaries, error) {
	s, err := exec.LookPath("redis-server")
	if err != nil {
		return Binaries{}, fmt.Errorf("%w: redis-server: %v (apt-get install redis-server)", ErrNotInstalled, err)
	}
	c, err := exec.LookPath("redis-cli")
	if err != nil {
		return Binaries{}, fmt.Errorf("%w: redis-cli: %v (apt-get install redis-tools)", ErrNotInstalled, err)
	}
	return Binaries{Server: s, CLI: c}, nil
}

// resolve fills b's empty paths from PATH.
func (b Binaries) resolve() (Binaries, error) {
	if b.Server != "" && b.CLI != "" {
		return b, nil
	}
	found, err := Find()
	if err != nil {
		return b, err
	}
	if b.Server == "" {
		b.Server = found.Server
	}
	if b.CLI == "" {
		b.CLI = found.CLI
	}
	return b, nil
}

// Timing defaults.
const (
	// DefaultFailureDetection is the default cluster-node-timeout and
	// sentinel down-after-milliseconds: how long a master must be
	// unreachable before it is replaced. (Redis's own defaults, 15 s and
	// 30 s, make every failover experiment slow.)
	DefaultFailureDetection = 5 * time.Second
	// DefaultStartTimeout bounds starting a whole deployment.
	DefaultStartTimeout = 60 * time.Second
	// pollInterval is how often a wait checks again.
	pollInterval = 50 * time.Millisecond
	// portAttempts is how often a node is started on fresh ports when it
	// exits before it is ready (a reserved port taken meanwhile).
	portAttempts = 3
)

// node is one redis-server (data node or sentinel) of a deployment.
type node struct {
	name string
	addr string // 127.0.0.1:port
	bus  string // cluster bus address (cluster nodes only)
	dir  string // working directory: nodes.conf, sentinel.conf
	// args are its arguments without the address options, which spec
	// appends (a sentinel's start with its config file and --sentinel).
	args []string

	mu sync.Mutex
	p  *proc.Process
}

func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.p != nil && !n.p.Exited()
}

// kill SIGKILLs the node (no save, connections reset) and reaps it.
// Killing a dead node is a no-op.
func (n *node) kill() {
	n.mu.Lock()
	p := n.p
	n.p = nil
	n.mu.Unlock()
	if p != nil {
		p.Kill()
	}
}

// starter starts redis-server nodes.
type starter struct {
	server string
	output io.Writer
}

// spec describes n listening on addr (and bus, for cluster nodes).
func (s starter) spec(n *node, addr, bus string) proc.Spec {
	_, port, _ := strings.Cut(addr, ":")
	args := append(append([]string{}, n.args...), "--port", port, "--bind", "127.0.0.1")
	if bus != "" {
		_, bport, _ := strings.Cut(bus, ":")
		args = append(args, "--cluster-port", bport)
	}
	return proc.Spec{
		Name: n.name, Path: s.server, Args: args, Dir: n.dir,
		Stdout: s.output, Stderr: s.output,
		Ready:        pingReady(addr),
		ReadyTimeout: 10 * time.Second,
		StopTimeout:  2 * time.Second,
	}
}

// startFresh starts n on free loopback ports (and a free bus port when
// withBus), trying fresh ports when it exits before it is ready.
func (s starter) startFresh(ctx context.Context, n *node, withBus bool) error {
	var last error
	for range portAttempts {
		addr, err := proc.FreeLoopbackAddr()
		if err != nil {
			return err
		}
		bus := ""
		if withBus {
			if bus, err = proc.FreeLoopbackAddr(); err != nil {
				return err
			}
		}
		p, err := proc.Start(ctx, s.spec(n, addr, bus))
		if err == nil {
			n.mu.Lock()
			n.p, n.addr, n.bus = p, addr, bus
			n.mu.Unlock()
			return nil
		}
		last = err
		if !errors.Is(err, proc.ErrExited) || ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("start %s: %w", n.name, last)
}

// restart starts n again on its own address(es), retrying briefly while
// the port is still held (clients and other nodes know this address).
func (s starter) restart(ctx context.Context, n *node) error {
	if n.running() {
		return fmt.Errorf("restart %s (%s): it is running", n.name, n.addr)
	}
	var last error
	for range 50 {
		p, err := proc.Start(ctx, s.spec(n, n.addr, n.bus))
		if err == nil {
			n.mu.Lock()
			n.p = p
			n.mu.Unlock()
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("restart %s (%s): %w (last: %v)", n.name, n.addr, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("restart %s (%s): %w", n.name, n.addr, last)
}

// dataArgs are the options of every data node: nothing persisted, logs
// to stdout at warning level, not daemonized.
func dataArgs() []string {
	return []string{"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--logfile", "", "--loglevel", "warning"}
}

// nodeOptions are go-redis options for one node, with short timeouts and
// no retries: the waits here poll, and must not stall on a dead node.
func nodeOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr: addr, DialTimeout: 250 * time.Millisecond,
		ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		MaxRetries: -1, DialerRetries: 1, PoolSize: 2,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}

// onNode runs f with a client connected to addr.
func onNode(ctx context.Context, addr string, f func(*redis.Client) error) error {
	c := redis.NewClient(nodeOptions(addr))
	defer c.Close()
	return f(c)
}

func pingReady(addr string) proc.ReadyFunc {
	return func(ctx context.Context) error {
		return onNode(ctx, addr, func(c *redis.Client) error { return c.Ping(ctx).Err() })
	}
}

// role returns the first word of ROLE at addr: "master", "slave" or
// "sentinel".
func role(ctx context.Context, addr string) (string, error) {
	var r string
	err := onNode(ctx, addr, func(c *redis.Client) error {
		v, err := c.Do(ctx, "ROLE").Slice()
		if err != nil {
			return err
		}
		if len(v) == 0 {
			return errors.New("empty ROLE reply")
		}
		r, _ = v[0].(string)
		return nil
	})
	return r, err
}

// probeWrite sets a short-lived probe key on addr directly: it fails
// unless addr serves writes (of that key's slot, in a cluster) now.
func probeWrite(ctx context.Context, addr, key string) error {
	return onNode(ctx, addr, func(c *redis.Client) error {
		return c.Set(ctx, key, "1", 10*time.Second).Err()
	})
}

// infoField returns field of an INFO reply ("" when absent).
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// replicaLinked reports whether the replica at addr has finished its
// sync with its master.
func replicaLinked(ctx context.Context, addr string) error {
	return onNode(ctx, addr, func(c *redis.Client) error {
		info, err := c.Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if infoField(info, "role") != "slave" {
			return fmt.Errorf("%s: role %q, want slave", addr, infoField(info, "role"))
		}
		if s := infoField(info, "master_link_status"); s != "up" {
			return fmt.Errorf("%s: master_link_status %q", addr, s)
		}
		if infoField(info, "master_sync_in_progress") != "0" {
			return fmt.Errorf("%s: initial sync in progress", addr)
		}
		return nil
	})
}

// poll calls check every pollInterval until it returns nil or ctx ends
// (then the error says what the last check said).
func poll(ctx context.Context, what string, check func(ctx context.Context) error) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last check: %v)", what, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// workDir returns dir, or a new temporary directory (and true) when dir
// is empty.
func workDir(dir, pattern string) (string, bool, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", false, fmt.Errorf("working directory: %w", err)
		}
		return dir, false, nil
	}
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", false, fmt.Errorf("working directory: %w", err)
	}
	return d, true, nil
}

// addrPort splits "host:port" into host and port (0 when malformed).
func addrPort(a string) (string, int) {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return a, 0
	}
	p, _ := strconv.Atoi(a[i+1:])
	return a[:i], p
}
