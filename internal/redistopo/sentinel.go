package redistopo

import (
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
)

// SentinelConfig configures a local Sentinel group. Zero values take the
// defaults given on each field.
type SentinelConfig struct {
	// MasterName is the name the sentinels monitor (default "mymaster").
	MasterName string
	// Replicas is the number of replicas of the master (default 2).
	Replicas int
	// Sentinels is the number of sentinels (default 3).
	Sentinels int
	// Quorum is the number of sentinels that must agree the master is down
	// (default a majority of Sentinels).
	Quorum int
	// DownAfter is down-after-milliseconds: how long the master must be
	// unreachable before the sentinels start a failover (default
	// DefaultFailureDetection).
	DownAfter time.Duration
	// FailoverTimeout is the sentinels' failover-timeout (default 15s).
	FailoverTimeout time.Duration
	// Binaries are redis-server and redis-cli (default: from PATH).
	Binaries Binaries
	// Dir holds a working directory per process (the sentinels' config
	// files); default a new temporary directory, removed by Close.
	Dir string
	// Output receives every process's output (nil: discarded).
	Output io.Writer
	// StartTimeout bounds starting and waiting until the sentinels know
	// each other and the replicas (default DefaultStartTimeout).
	StartTimeout time.Duration
}

func (c SentinelConfig) withDefaults() SentinelConfig {
	if c.MasterName == "" {
		c.MasterName = "mymaster"
	}
	if c.Replicas == 0 {
		c.Replicas = 2
	}
	if c.Sentinels == 0 {
		c.Sentinels = 3
	}
	if c.Quorum == 0 {
		c.Quorum = c.Sentinels/2 + 1
	}
	if c.DownAfter == 0 {
		c.DownAfter = DefaultFailureDetection
	}
	if c.FailoverTimeout == 0 {
		c.FailoverTimeout = 15 * time.Second
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	return c
}

// Validate reports a problem with c (zero values are valid: defaults).
func (c SentinelConfig) Validate() error {
	d := c.withDefaults()
	switch {
	case strings.ContainsAny(c.MasterName, " \t\r\n\"'/"):
		return fmt.Errorf("redistopo: master name %q: no spaces, quotes or slashes", c.MasterName)
	case c.Replicas < 0:
		return fmt.Errorf("redistopo: %d replicas", c.Replicas)
	case c.Sentinels < 0:
		return fmt.Errorf("redistopo: %d sentinels", c.Sentinels)
	case d.Quorum < 1 || d.Quorum > d.Sentinels:
		return fmt.Errorf("redistopo: quorum %d of %d sentinels", d.Quorum, d.Sentinels)
	case c.DownAfter < 0 || (c.DownAfter > 0 && c.DownAfter < 100*time.Millisecond):
		return fmt.Errorf("redistopo: down-after %v: want at least 100ms", c.DownAfter)
	case c.FailoverTimeout < 0 || (c.FailoverTimeout > 0 && c.FailoverTimeout < time.Second):
		return fmt.Errorf("redistopo: failover timeout %v: want at least 1s", c.FailoverTimeout)
	case c.StartTimeout < 0:
		return fmt.Errorf("redistopo: negative start timeout %v", c.StartTimeout)
	}
	return nil
}

// Sentinel is a running local Sentinel group: data nodes (one master at a
// time) and the sentinels watching them.
type Sentinel struct {
	cfg       SentinelConfig
	st        starter
	data      []*node // data[0] was the first master
	sentinels []*node
	dir       string
	ownDir    bool

	closeOnce sync.Once
	closeErr  error
}

// StartSentinel starts a master, cfg.Replicas replicas of it and
// cfg.Sentinels sentinels on free loopback ports, and returns once every
// replica has synced and every sentinel knows the replicas and the other
// sentinels (a failover needs them). On error everything started is
// stopped.
func StartSentinel(ctx context.Context, cfg SentinelConfig) (s *Sentinel, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	bins, err := cfg.Binaries.resolve()
	if err != nil {
		return nil, err
	}
	cfg.Binaries = bins
	dir, own, err := workDir(cfg.Dir, "authlab-redis-sentinel-*")
	if err != nil {
		return nil, err
	}
	s = &Sentinel{cfg: cfg, st: starter{server: bins.Server, output: cfg.Output}, dir: dir, ownDir: own}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()

	mkdir := func(name string) (string, error) {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", fmt.Errorf("directory of %s: %w", name, err)
		}
		return d, nil
	}
	for i := 0; i <= cfg.Replicas; i++ {
		name := "redis-master"
		if i > 0 {
			name = fmt.Sprintf("redis-replica-%d", i)
		}
		d, err := mkdir(name)
		if err != nil {
			return s, err
		}
		n := &node{name: name, dir: d, args: append(dataArgs(), "--dir", d)}
		if i > 0 {
			host, port := addrPort(s.data[0].addr)
			n.args = append(n.args, "--replicaof", host, strconv.Itoa(port))
		}
		s.data = append(s.data, n)
		if err := s.st.startFresh(ctx, n, false); err != nil {
			return s, err
		}
	}
	for _, n := range s.data[1:] {
		if err := poll(ctx, n.name+" synced", func(ctx context.Context) error { return replicaLinked(ctx, n.addr) }); err != nil {
			return s, err
		}
	}
	host, port := addrPort(s.data[0].addr)
	conf := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]d %[4]d\nsentinel down-after-milliseconds %[1]s %[5]d\nsentinel failover-timeout %[1]s %[6]d\nsentinel parallel-syncs %[1]s 1\n",
		cfg.MasterName, host, port, cfg.Quorum, cfg.DownAfter.Milliseconds(), cfg.FailoverTimeout.Milliseconds())
	for i := 1; i <= cfg.Sentinels; i++ {
		name := fmt.Sprintf("redis-sentinel-%d", i)
		d, err := mkdir(name)
		if err != nil {
			return s, err
		}
		// A sentinel rewrites its config file: each has its own.
		path := filepath.Join(d, "sentinel.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			return s, fmt.Errorf("config of %s: %w", name, err)
		}
		n := &node{name: name, dir: d, args: []string{path, "--sentinel",
			"--daemonize", "no", "--logfile", "", "--loglevel", "warning", "--dir", d}}
		s.sentinels = append(s.sentinels, n)
		if err := s.st.startFresh(ctx, n, false); err != nil {
			return s, err
		}
	}
	if err := poll(ctx, "sentinels know each other and the replicas", s.settled); err != nil {
		return s, err
	}
	return s, nil
}

// settled reports (as an error) a sentinel that does not yet see the
// master with every replica and every other sentinel.
func (s *Sentinel) settled(ctx context.Context) error {
	for _, n := range s.sentinels {
		var m map[string]string
		err := onSentinel(ctx, n.addr, func(c *redis.SentinelClient) (err error) {
			m, err = c.Master(ctx, s.cfg.MasterName).Result()
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
		if m["flags"] != "master" {
			return fmt.Errorf("%s: master flags %q", n.name, m["flags"])
		}
		if m["num-slaves"] != strconv.Itoa(s.cfg.Replicas) {
			return fmt.Errorf("%s: knows %s replicas, want %d", n.name, m["num-slaves"], s.cfg.Replicas)
		}
		if m["num-other-sentinels"] != strconv.Itoa(s.cfg.Sentinels-1) {
			return fmt.Errorf("%s: knows %s other sentinels, want %d", n.name, m["num-other-sentinels"], s.cfg.Sentinels-1)
		}
	}
	return nil
}

func onSentinel(ctx context.Context, addr string, f func(*redis.SentinelClient) error) error {
	c := redis.NewSentinelClient(nodeOptions(addr))
	defer c.Close()
	return f(c)
}

// URL is the redis+sentinel:// URL of the sentinels and the master name.
func (s *Sentinel) URL() string {
	return "redis+sentinel://" + strings.Join(s.SentinelAddrs(), ",") + "/" + s.cfg.MasterName
}

// MasterName is the name the sentinels monitor.
func (s *Sentinel) MasterName() string { return s.cfg.MasterName }

// Addrs returns the data nodes' addresses (the first master first).
func (s *Sentinel) Addrs() []string { return addrsOf(s.data) }

// SentinelAddrs returns the sentinels' addresses.
func (s *Sentinel) SentinelAddrs() []string { return addrsOf(s.sentinels) }

func addrsOf(ns []*node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.addr
	}
	return out
}

// Master returns the master's address as every running sentinel names it;
// an error when they disagree (a failover under way) or none answers.
func (s *Sentinel) Master(ctx context.Context) (string, error) {
	var master string
	for _, n := range s.sentinels {
		if !n.running() {
			continue
		}
		var hp []string
		err := onSentinel(ctx, n.addr, func(c *redis.SentinelClient) (err error) {
			hp, err = c.GetMasterAddrByName(ctx, s.cfg.MasterName).Result()
			return err
		})
		if err != nil {
			return "", fmt.Errorf("%s: %w", n.name, err)
		}
		if len(hp) != 2 {
			return "", fmt.Errorf("%s: master address %q", n.name, hp)
		}
		a := hp[0] + ":" + hp[1]
		switch {
		case master == "":
			master = a
		case a != master:
			return "", fmt.Errorf("sentinels disagree: %s and %s", master, a)
		}
	}
	if master == "" {
		return "", errors.New("no running sentinel")
	}
	return master, nil
}

// KillMaster SIGKILLs the current master (no save, connections reset) and
// returns its address. key is ignored: one master holds every key (it is
// there so that Cluster and Sentinel share this method).
func (s *Sentinel) KillMaster(ctx context.Context, key string) (string, error) {
	m, err := s.Master(ctx)
	if err != nil {
		return "", err
	}
	return m, s.Kill(m)
}

// Kill SIGKILLs the data node or sentinel at addr and waits until it is
// reaped; killing a dead one is a no-op.
func (s *Sentinel) Kill(addr string) error {
	n := s.node(addr)
	if n == nil {
		return fmt.Errorf("redistopo: kill %s: %w", addr, ErrUnknownNode)
	}
	n.kill()
	return nil
}

// WaitNewMaster waits until every running sentinel names a master other
// than old, that node says it is a master, and a write succeeds on it;
// it returns its address. key is ignored (see KillMaster).
func (s *Sentinel) WaitNewMaster(ctx context.Context, key, old string) (string, error) {
	var m string
	err := poll(ctx, "new master", func(ctx context.Context) error {
		var err error
		if m, err = s.Master(ctx); err != nil {
			return err
		}
		if m == old {
			return fmt.Errorf("the sentinels still name %s", old)
		}
		if r, err := role(ctx, m); err != nil || r != "master" {
			return fmt.Errorf("%s: role %q (%v)", m, r, err)
		}
		return probeWrite(ctx, m, "redistopo:probe")
	})
	if err != nil {
		return "", err
	}
	return m, nil
}

// Restart starts the killed process at addr again on its own address. A
// data node comes back as a replica of the current master, and Restart
// waits until it has synced; a sentinel, until it answers.
func (s *Sentinel) Restart(ctx context.Context, addr string) error {
	n := s.node(addr)
	if n == nil {
		return fmt.Errorf("redistopo: restart %s: %w", addr, ErrUnknownNode)
	}
	isData := false
	for _, d := range s.data {
		isData = isData || d == n
	}
	if !isData {
		return s.st.restart(ctx, n)
	}
	m, err := s.Master(ctx)
	if err != nil {
		return fmt.Errorf("restart %s: %w", addr, err)
	}
	if m == addr {
		return fmt.Errorf("restart %s: the sentinels still name it master", addr)
	}
	// Not as the empty master it was: as a replica of the current one.
	host, port := addrPort(m)
	n.mu.Lock()
	if i := slices.Index(n.args, "--replicaof"); i >= 0 {
		n.args = append(n.args[:i:i], n.args[i+3:]...)
	}
	n.args = append(n.args, "--replicaof", host, strconv.Itoa(port))
	n.mu.Unlock()
	if err := s.st.restart(ctx, n); err != nil {
		return err
	}
	return poll(ctx, "restarted "+addr+" synced", func(ctx context.Context) error { return replicaLinked(ctx, addr) })
}

// Close kills every process and removes the working directory it made.
func (s *Sentinel) Close() error {
	s.closeOnce.Do(func() {
		for _, n := range s.sentinels {
			n.kill()
		}
		for _, n := range s.data {
			n.kill()
		}
		if s.ownDir {
			s.closeErr = os.RemoveAll(s.dir)
		}
	})
	return s.closeErr
}

func (s *Sentinel) node(addr string) *node {
	for _, n := range append(append([]*node{}, s.data...), s.sentinels...) {
		if n.addr == addr {
			return n
		}
	}
	return nil
}
