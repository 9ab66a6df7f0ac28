package redistopo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/proc"
)

// ClusterConfig configures a local Redis Cluster. Zero values take the
// defaults given on each field.
type ClusterConfig struct {
	// Masters is the number of masters (default 3, Redis Cluster's minimum).
	Masters int
	// ReplicasPerMaster is the number of replicas of each master (default 1).
	ReplicasPerMaster int
	// NodeTimeout is cluster-node-timeout: how long a master must be
	// unreachable before its replica is promoted (default
	// DefaultFailureDetection).
	NodeTimeout time.Duration
	// Binaries are redis-server and redis-cli (default: from PATH).
	Binaries Binaries
	// Dir holds a working directory per node (its nodes.conf); default a
	// new temporary directory, removed by Close.
	Dir string
	// Output receives the nodes' and redis-cli's output (nil: discarded).
	Output io.Writer
	// StartTimeout bounds starting, creating and waiting until every node
	// agrees (default DefaultStartTimeout).
	StartTimeout time.Duration
}

func (c ClusterConfig) withDefaults() ClusterConfig {
	if c.Masters == 0 {
		c.Masters = 3
	}
	if c.ReplicasPerMaster == 0 {
		c.ReplicasPerMaster = 1
	}
	if c.NodeTimeout == 0 {
		c.NodeTimeout = DefaultFailureDetection
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	return c
}

// Validate reports a problem with c (zero values are valid: defaults).
func (c ClusterConfig) Validate() error {
	switch {
	case c.Masters != 0 && c.Masters < 3:
		return fmt.Errorf("redistopo: cluster of %d masters: Redis Cluster needs at least 3", c.Masters)
	case c.ReplicasPerMaster < 0:
		return fmt.Errorf("redistopo: %d replicas per master", c.ReplicasPerMaster)
	case c.NodeTimeout < 0 || (c.NodeTimeout > 0 && c.NodeTimeout < 100*time.Millisecond):
		return fmt.Errorf("redistopo: node timeout %v: want at least 100ms", c.NodeTimeout)
	case c.StartTimeout < 0:
		return fmt.Errorf("redistopo: negative start timeout %v", c.StartTimeout)
	}
	return nil
}

// Cluster is a running local Redis Cluster.
type Cluster struct {
	cfg    ClusterConfig
	st     starter
	nodes  []*node
	dir    string
	ownDir bool

	closeOnce sync.Once
	closeErr  error
}

// StartCluster starts cfg.Masters × (1 + cfg.ReplicasPerMaster) cluster
// nodes on free loopback ports, creates the cluster with `redis-cli
// --cluster create … --cluster-replicas N`, and returns once every node
// reports cluster_state:ok, agrees on the masters and every replica has
// finished its initial sync. On error everything started is stopped.
func StartCluster(ctx context.Context, cfg ClusterConfig) (c *Cluster, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	bins, err := cfg.Binaries.resolve()
	if err != nil {
		return nil, err
	}
	cfg.Binaries = bins
	dir, own, err := workDir(cfg.Dir, "authlab-redis-cluster-*")
	if err != nil {
		return nil, err
	}
	c = &Cluster{cfg: cfg, st: starter{server: bins.Server, output: cfg.Output}, dir: dir, ownDir: own}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()

	total := cfg.Masters * (1 + cfg.ReplicasPerMaster)
	for i := 1; i <= total; i++ {
		nd := filepath.Join(dir, fmt.Sprintf("node-%d", i))
		if err := os.MkdirAll(nd, 0o700); err != nil {
			return c, fmt.Errorf("node directory: %w", err)
		}
		n := &node{name: fmt.Sprintf("redis-cluster-%d", i), dir: nd, args: append(dataArgs(),
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.FormatInt(cfg.NodeTimeout.Milliseconds(), 10),
			"--dir", nd)}
		c.nodes = append(c.nodes, n)
		if err := c.st.startFresh(ctx, n, true); err != nil {
			return c, err
		}
	}
	if err := c.create(ctx); err != nil {
		return c, err
	}
	if err := poll(ctx, "cluster converged", c.converged); err != nil {
		return c, err
	}
	return c, nil
}

// create runs redis-cli --cluster create over every node.
func (c *Cluster) create(ctx context.Context) error {
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(c.cfg.ReplicasPerMaster), "--cluster-yes")
	var out bytes.Buffer
	var w io.Writer = &out
	if c.cfg.Output != nil {
		w = io.MultiWriter(&out, c.cfg.Output)
	}
	p, err := proc.Start(ctx, proc.Spec{Name: "redis-cli --cluster create", Path: c.cfg.Binaries.CLI, Args: args, Stdout: w, Stderr: w})
	if err != nil {
		return err
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("redis-cli --cluster create: %w", ctx.Err())
	}
	if err := p.Err(); err != nil {
		return fmt.Errorf("redis-cli --cluster create: %w: %s", err, lastLines(out.String(), 5))
	}
	return nil
}

// converged reports (as an error) what is not yet settled: every node
// knows every other, serves all slots, sees cfg.Masters masters each with
// its replicas, and every replica has synced.
func (c *Cluster) converged(ctx context.Context) error {
	total := len(c.nodes)
	for _, n := range c.nodes {
		var info string
		err := onNode(ctx, n.addr, func(cl *redis.Client) (err error) {
			info, err = cl.ClusterInfo(ctx).Result()
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", n.addr, err)
		}
		if s := infoField(info, "cluster_state"); s != "ok" {
			return fmt.Errorf("%s: cluster_state %q", n.addr, s)
		}
		if k := infoField(info, "cluster_known_nodes"); k != strconv.Itoa(total) {
			return fmt.Errorf("%s: knows %s nodes, want %d", n.addr, k, total)
		}
		view, err := clusterView(ctx, n.addr)
		if err != nil {
			return err
		}
		masters, replicas := 0, 0
		for _, v := range view {
			switch {
			case v.failing():
				return fmt.Errorf("%s sees %s failing", n.addr, v.addr)
			case v.has("master") && len(v.slots) > 0:
				masters++
			case v.has("slave"):
				replicas++
			}
		}
		if masters != c.cfg.Masters || replicas != total-c.cfg.Masters {
			return fmt.Errorf("%s sees %d masters and %d replicas, want %d and %d", n.addr, masters, replicas, c.cfg.Masters, total-c.cfg.Masters)
		}
		for _, v := range view {
			if v.has("slave") && v.has("myself") {
				if err := replicaLinked(ctx, n.addr); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// URL is the redis+cluster:// URL of every node (the seeds a client tries).
func (c *Cluster) URL() string { return "redis+cluster://" + strings.Join(c.Addrs(), ",") }

// Addrs returns every node's address, in start order.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.addr
	}
	return out
}

// Masters returns the addresses of the masters serving slots, as the first
// running node sees them (failing ones left out), sorted.
func (c *Cluster) Masters(ctx context.Context) ([]string, error) {
	view, err := c.view(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range view {
		if v.has("master") && !v.failing() && len(v.slots) > 0 {
			out = append(out, v.addr)
		}
	}
	slices.Sort(out)
	return out, nil
}

// MasterOf returns the address of the master serving key's hash slot, as
// the first running node that knows one sees it.
func (c *Cluster) MasterOf(ctx context.Context, key string) (string, error) {
	slot := Slot(key)
	var last error = errors.New("no running node")
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		view, err := clusterView(ctx, n.addr)
		if err != nil {
			last = err
			continue
		}
		for _, v := range view {
			if v.has("master") && !v.failing() && v.serves(slot) {
				return v.addr, nil
			}
		}
		last = fmt.Errorf("%s knows no live master of slot %d", n.addr, slot)
	}
	return "", fmt.Errorf("master of slot %d: %w", slot, last)
}

// KillMaster SIGKILLs the master serving key's slot (no save, connections
// reset) and returns its address.
func (c *Cluster) KillMaster(ctx context.Context, key string) (string, error) {
	m, err := c.MasterOf(ctx, key)
	if err != nil {
		return "", err
	}
	return m, c.Kill(m)
}

// Kill SIGKILLs the node at addr and waits until it is reaped; killing a
// dead node is a no-op.
func (c *Cluster) Kill(addr string) error {
	n := c.node(addr)
	if n == nil {
		return fmt.Errorf("redistopo: kill %s: %w", addr, ErrUnknownNode)
	}
	n.kill()
	return nil
}

// WaitNewMaster waits until key's slot is served by a master other than
// old — the cluster agrees, the node says it is a master, and a write of
// that slot succeeds on it — and returns its address.
func (c *Cluster) WaitNewMaster(ctx context.Context, key, old string) (string, error) {
	slot := Slot(key)
	var m string
	err := poll(ctx, "new master of slot "+strconv.Itoa(slot), func(ctx context.Context) error {
		var err error
		if m, err = c.MasterOf(ctx, key); err != nil {
			return err
		}
		if m == old {
			return fmt.Errorf("slot %d still on %s", slot, old)
		}
		if r, err := role(ctx, m); err != nil || r != "master" {
			return fmt.Errorf("%s: role %q (%v)", m, r, err)
		}
		return probeWrite(ctx, m, probeKey(slot))
	})
	if err != nil {
		return "", err
	}
	return m, nil
}

// Restart starts the killed node at addr again on its own address with its
// nodes.conf, and waits until it has rejoined as a replica that finished
// its sync (a master that was replaced comes back as the replica of its
// successor).
func (c *Cluster) Restart(ctx context.Context, addr string) error {
	n := c.node(addr)
	if n == nil {
		return fmt.Errorf("redistopo: restart %s: %w", addr, ErrUnknownNode)
	}
	if err := c.st.restart(ctx, n); err != nil {
		return err
	}
	return poll(ctx, "restarted "+addr+" rejoined as a replica", func(ctx context.Context) error {
		return replicaLinked(ctx, addr)
	})
}

// Close kills every node and removes the working directory it made.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		for _, n := range c.nodes {
			n.kill()
		}
		if c.ownDir {
			c.closeErr = os.RemoveAll(c.dir)
		}
	})
	return c.closeErr
}

func (c *Cluster) node(addr string) *node {
	for _, n := range c.nodes {
		if n.addr == addr {
			return n
		}
	}
	return nil
}

// view returns CLUSTER NODES of the first running node that answers.
func (c *Cluster) view(ctx context.Context) ([]clusterNode, error) {
	var last error = errors.New("no running node")
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		v, err := clusterView(ctx, n.addr)
		if err == nil {
			return v, nil
		}
		last = err
	}
	return nil, last
}

func clusterView(ctx context.Context, addr string) ([]clusterNode, error) {
	var text string
	err := onNode(ctx, addr, func(c *redis.Client) (err error) {
		text, err = c.ClusterNodes(ctx).Result()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("CLUSTER NODES at %s: %w", addr, err)
	}
	return parseClusterNodes(text, addr)
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, addr string
	flags    []string
	masterID string // "-" for a master
	slots    [][2]int
}

func (n clusterNode) has(flag string) bool { return slices.Contains(n.flags, flag) }

// failing: flagged failing (fail) or suspected by the node asked (fail?).
func (n clusterNode) failing() bool { return n.has("fail") || n.has("fail?") }

func (n clusterNode) serves(slot int) bool {
	for _, r := range n.slots {
		if slot >= r[0] && slot <= r[1] {
			return true
		}
	}
	return false
}

// parseClusterNodes parses a CLUSTER NODES reply given by the node at
// queried (whose own line may show no IP).
//
//	<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot> <slot> ...
func parseClusterNodes(text, queried string) ([]clusterNode, error) {
	var out []clusterNode
	qhost, _ := addrPort(queried)
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES line %q: %d fields, want at least 8", line, len(f))
		}
		addr, _, _ := strings.Cut(f[1], "@")
		addr, _, _ = strings.Cut(addr, ",")
		if strings.HasPrefix(addr, ":") {
			addr = qhost + addr
		}
		n := clusterNode{id: f[0], addr: addr, flags: strings.Split(f[2], ","), masterID: f[3]}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") {
				continue // a slot being migrated or imported
			}
			lo, hi, isRange := strings.Cut(s, "-")
			a, err := strconv.Atoi(lo)
			if err != nil {
				return nil, fmt.Errorf("CLUSTER NODES line %q: slot %q", line, s)
			}
			b := a
			if isRange {
				if b, err = strconv.Atoi(hi); err != nil || b < a {
					return nil, fmt.Errorf("CLUSTER NODES line %q: slot range %q", line, s)
				}
			}
			n.slots = append(n.slots, [2]int{a, b})
		}
		out = append(out, n)
	}
	return out, nil
}

// lastLines returns the last n lines of s, for error messages.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
