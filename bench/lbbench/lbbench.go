// Package lbbench measures authlab's Go load balancer against HAProxy at
// saturation: the same chain (auth + backend + N gateway instances with the
// "none" strategy) is started once, then rounds alternate between the Go lb
// and HAProxy in front of it, each driven by the vegeta library with a fixed
// number of concurrent workers (a closed-loop, max-throughput test). Medians
// over the rounds are reported with the Go/HAProxy ratios.
package lbbench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authlab/authlab/internal/netutil"
	"github.com/authlab/authlab/internal/secret"
)

// Proxy names.
const (
	GoLB    = "go-lb"
	HAProxy = "haproxy"
)

// ErrNoHAProxy means HAProxy is missing and could not be installed.
var ErrNoHAProxy = errors.New("haproxy not available")

// Config configures a run. Zero fields take the defaults given.
type Config struct {
	// Executable is the authlab binary started for every process. Required.
	Executable string
	// Instances is the number of gateway instances; default 3.
	Instances int
	// Paths are the request paths measured; default /api/me (the whole
	// chain) and /healthz (gateway only: the proxies' share is largest).
	Paths []string
	// Duration is one measured round; default 5s.
	Duration time.Duration
	// Warmup precedes every round, unmeasured; default 1s.
	Warmup time.Duration
	// Repeats is the number of rounds per proxy and path; default 3.
	Repeats int
	// Workers is the number of concurrent vegeta workers (each one request
	// at a time, keep-alive); default 32.
	Workers int
	// LBArgs are extra flags for the Go lb (e.g. "--gc-percent", "100").
	LBArgs []string
	// HAProxyPath is the haproxy binary; default: looked up in PATH and
	// /usr/sbin.
	HAProxyPath string
	// InstallHAProxy allows installing HAProxy with apt-get when it is
	// missing and the process runs as root (the command sets it; tests
	// must not install packages).
	InstallHAProxy bool
	// Logger receives progress; nil means slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Instances == 0 {
		c.Instances = 3
	}
	if len(c.Paths) == 0 {
		c.Paths = []string{"/api/me", "/healthz"}
	}
	if c.Duration == 0 {
		c.Duration = 5 * time.Second
	}
	if c.Warmup == 0 {
		c.Warmup = time.Second
	}
	if c.Repeats == 0 {
		c.Repeats = 3
	}
	if c.Workers == 0 {
		c.Workers = 32
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a configuration error.
func (c Config) Validate() error {
	var errs []error
	if c.Executable == "" {
		errs = append(errs, errors.New("executable is required"))
	}
	if c.Instances < 1 || c.Repeats < 1 || c.Workers < 1 {
		errs = append(errs, fmt.Errorf("instances %d, repeats %d, workers %d must be ≥ 1", c.Instances, c.Repeats, c.Workers))
	}
	if c.Duration <= 0 || c.Warmup < 0 {
		errs = append(errs, fmt.Errorf("duration %v must be > 0, warmup %v ≥ 0", c.Duration, c.Warmup))
	}
	for _, p := range c.Paths {
		if !strings.HasPrefix(p, "/") {
			errs = append(errs, fmt.Errorf("path %q must start with /", p))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lbbench: %w", err)
	}
	return nil
}

// Round is one measured attack.
type Round struct {
	Proxy      string        `json:"proxy"`
	Path       string        `json:"path"`
	Round      int           `json:"round"`
	Requests   int           `json:"requests"`
	Errors     int           `json:"errors"`     // transport errors and non-2xx
	Throughput float64       `json:"throughput"` // successful requests per second
	P50        time.Duration `json:"p50"`
	P99        time.Duration `json:"p99"`
	ProxyCPU   float64       `json:"proxy_cpu"` // proxy process CPU seconds per second (1.0 = one core)
}

// Summary is the medians of one proxy on one path.
type Summary struct {
	Proxy      string
	Path       string
	Throughput float64
	P50, P99   time.Duration
	ProxyCPU   float64
	Errors     int
}

// Report is a run's result.
type Report struct {
	Config    Config
	Rounds    []Round
	Summaries []Summary
	HAProxy   string // haproxy -v first line
}

// Run starts the chain and both proxies, runs the alternating rounds and
// returns the report. It returns an error wrapping ErrNoHAProxy when
// HAProxy is missing and cannot be installed.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	haproxy, err := findHAProxy(ctx, cfg.HAProxyPath, cfg.InstallHAProxy, log)
	if err != nil {
		return nil, err
	}
	ver, _ := exec.CommandContext(ctx, haproxy, "-v").Output()
	rep := &Report{Config: cfg, HAProxy: firstLine(string(ver))}

	procs := &procSet{log: log}
	defer procs.stopAll()
	// Secrets by environment only, each process the ones it needs; the
	// lb's admin token is not the gateways'.
	base := append(os.Environ(), "AUTHLAB_LOG_LEVEL=warn")
	with := func(vars ...string) []string { return append(slices.Clip(base), vars...) }
	assertionKey, instanceToken := secret.Random(), secret.Random()
	authEnv := with("AUTHLAB_SEED_PASSWORD="+secret.Random(), "AUTHLAB_ADMIN_PASSWORD="+secret.Random())
	backendEnv := with("AUTHLAB_ASSERTION_KEY=" + assertionKey)
	gwEnv := with("AUTHLAB_ASSERTION_KEY="+assertionKey, "AUTHLAB_FINGERPRINT_KEY="+secret.Random(),
		"AUTHLAB_ADMIN_TOKEN="+instanceToken)
	lbEnv := with("AUTHLAB_ADMIN_TOKEN="+secret.Random(), "AUTHLAB_INSTANCE_ADMIN_TOKEN="+instanceToken,
		"AUTHLAB_COOKIE_KEY="+secret.Random())
	healthz := func(a []string) string { return "http://" + a[0] + "/healthz" }
	_, a, err := procs.startOnFreePorts(ctx, "auth", cfg.Executable, authEnv, 1, healthz, func(a []string) []string {
		return []string{"auth", "--listen", a[0], "--seed-users", "10", "--bcrypt-cost", "4"}
	})
	if err != nil {
		return nil, err
	}
	authAddr := a[0]
	_, a, err = procs.startOnFreePorts(ctx, "backend", cfg.Executable, backendEnv, 1, healthz, func(a []string) []string {
		return []string{"backend", "--listen", a[0]}
	})
	if err != nil {
		return nil, err
	}
	backendAddr := a[0]
	gws := make([]string, cfg.Instances)
	externals := make([]string, cfg.Instances) // DATA@ADMIN for the Go lb
	for i := range gws {
		id := fmt.Sprintf("gw%d", i+1)
		_, a, err := procs.startOnFreePorts(ctx, id, cfg.Executable, gwEnv, 2, healthz, func(a []string) []string {
			return []string{"gateway", "--listen", a[0], "--admin-listen", a[1], "--instance-id", id, "--strategy", "none",
				"--auth-url", "http://" + authAddr, "--backend-url", "http://" + backendAddr}
		})
		if err != nil {
			return nil, err
		}
		gws[i], externals[i] = a[0], a[0]+"@"+a[1]
	}

	goProc, a, err := procs.startOnFreePorts(ctx, GoLB, cfg.Executable, lbEnv, 2, healthz, func(a []string) []string {
		return append([]string{"lb", "--listen", a[0], "--admin-listen", a[1], "--instances", "0",
			"--instance-addr", strings.Join(externals, ","), "--policy", "sticky", "--health-interval", "1s"}, cfg.LBArgs...)
	})
	if err != nil {
		return nil, err
	}
	goAddr := a[0]
	haAddr, err := netutil.FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "authlab-bench-lb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(HAProxyConfig(haAddr, gws)), 0o600); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, haproxy, "-c", "-f", cfgPath).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("haproxy -c: %w\n%s", err, out)
	}
	haProc, err := procs.startProc(ctx, HAProxy, haproxy, nil, "http://"+haAddr+"/healthz", "-f", cfgPath, "-db")
	if err != nil {
		return nil, err
	}

	targets := map[string]struct {
		base string
		pid  int
	}{
		GoLB:    {"http://" + goAddr, goProc.cmd.Process.Pid},
		HAProxy: {"http://" + haAddr, haProc.cmd.Process.Pid},
	}
	for r := range cfg.Repeats {
		for _, path := range cfg.Paths {
			order := []string{GoLB, HAProxy}
			if r%2 == 1 {
				order = []string{HAProxy, GoLB}
			}
			for _, proxy := range order {
				tg := targets[proxy]
				if cfg.Warmup > 0 {
					if _, err := attack(ctx, tg.base+path, cfg.Workers, cfg.Warmup, 0); err != nil {
						return nil, err
					}
				}
				round, err := attack(ctx, tg.base+path, cfg.Workers, cfg.Duration, tg.pid)
				if err != nil {
					return nil, err
				}
				round.Proxy, round.Path, round.Round = proxy, path, r+1
				log.Info("round", "proxy", proxy, "path", path, "round", r+1,
					"rps", int(round.Throughput), "p50", round.P50, "p99", round.P99, "errors", round.Errors)
				rep.Rounds = append(rep.Rounds, round)
			}
		}
	}
	rep.Summaries = summarize(rep.Rounds, cfg.Paths)
	return rep, nil
}

// attack runs one closed-loop attack of workers concurrent workers for du
// and measures it; pid (when > 0) is the proxy whose CPU time is sampled.
func attack(ctx context.Context, url string, workers int, du time.Duration, pid int) (Round, error) {
	atk := vegeta.NewAttacker(
		vegeta.Workers(uint64(workers)),
		vegeta.MaxWorkers(uint64(workers)),
		vegeta.Connections(workers),
		vegeta.MaxConnections(workers),
		vegeta.KeepAlive(true),
		vegeta.Timeout(10*time.Second),
		vegeta.Redirects(vegeta.NoFollow),
	)
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})
	cpu0 := procCPU(pid)
	start := time.Now()
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	lat := make([]time.Duration, 0, 1<<16)
	var r Round
	for res := range atk.Attack(tr, vegeta.Rate{Freq: 0, Per: time.Second}, du, "bench-lb") {
		r.Requests++
		if res.Error != "" || res.Code < 200 || res.Code > 299 {
			r.Errors++
			continue
		}
		lat = append(lat, res.Latency)
	}
	elapsed := time.Since(start).Seconds()
	if err := ctx.Err(); err != nil {
		return r, err
	}
	if pid > 0 {
		r.ProxyCPU = (procCPU(pid) - cpu0) / elapsed
	}
	r.Throughput = float64(len(lat)) / elapsed
	slices.Sort(lat)
	r.P50, r.P99 = quantile(lat, 0.50), quantile(lat, 0.99)
	if len(lat) == 0 {
		return r, fmt.Errorf("attack on %s: no successful request out of %d", url, r.Requests)
	}
	return r, nil
}

// quantile is the nearest-rank q-quantile of sorted.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// procCPU returns pid's user+system CPU seconds from /proc (0 when unknown).
func procCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// After "(comm)": state is f[0]; utime, stime are fields 14, 15 → f[11], f[12].
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// summarize returns per path and proxy the medians over the rounds.
func summarize(rounds []Round, paths []string) []Summary {
	var out []Summary
	for _, path := range paths {
		for _, proxy := range []string{GoLB, HAProxy} {
			var tp, p50, p99, cpu []float64
			s := Summary{Proxy: proxy, Path: path}
			for _, r := range rounds {
				if r.Path == path && r.Proxy == proxy {
					tp = append(tp, r.Throughput)
					p50 = append(p50, float64(r.P50))
					p99 = append(p99, float64(r.P99))
					cpu = append(cpu, r.ProxyCPU)
					s.Errors += r.Errors
				}
			}
			if len(tp) == 0 {
				continue
			}
			s.Throughput = median(tp)
			s.P50, s.P99 = time.Duration(median(p50)), time.Duration(median(p99))
			s.ProxyCPU = median(cpu)
			out = append(out, s)
		}
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// WriteTable prints the rounds and the summary with the Go/HAProxy ratios.
func (r *Report) WriteTable(w io.Writer) error {
	c := r.Config
	fmt.Fprintf(w, "bench-lb: %d gateway instances (strategy none), %d workers (closed loop, keep-alive), %v rounds after %v warmup, %d alternating repeats\n",
		c.Instances, c.Workers, c.Duration, c.Warmup, c.Repeats)
	fmt.Fprintf(w, "Go lb: policy sticky (cookie %s); HAProxy: %s, balance roundrobin, cookie SERVERID insert indirect nocache\n\n", "authlab_lb", r.HAProxy)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tproxy\tround\treq/s\tp50\tp99\tproxy CPU\terrors\t")
	for _, x := range r.Rounds {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%s\t%s\t%.2f\t%d\t\n", x.Path, x.Proxy, x.Round, x.Throughput, ms(x.P50), ms(x.P99), x.ProxyCPU, x.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nmedians:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tproxy\treq/s\tp50\tp99\tproxy CPU\tCPU µs/req\terrors\t")
	for _, s := range r.Summaries {
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%.2f\t%.1f\t%d\t\n", s.Path, s.Proxy, s.Throughput, ms(s.P50), ms(s.P99), s.ProxyCPU,
			1e6*s.ProxyCPU/s.Throughput, s.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nGo lb / HAProxy (goal: throughput ≥ 0.90, p99 ≤ 1.20):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tthroughput\tp50\tp99\tCPU per request\t")
	for _, path := range c.Paths {
		g, h, ok := r.pair(path)
		if !ok {
			continue
		}
		cpuPerReq := ratio(g.ProxyCPU/g.Throughput, h.ProxyCPU/h.Throughput)
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t\n", path, ratio(g.Throughput, h.Throughput),
			ratio(float64(g.P50), float64(h.P50)), ratio(float64(g.P99), float64(h.P99)), cpuPerReq)
	}
	return tw.Flush()
}

func (r *Report) pair(path string) (g, h Summary, ok bool) {
	var okG, okH bool
	for _, s := range r.Summaries {
		if s.Path != path {
			continue
		}
		switch s.Proxy {
		case GoLB:
			g, okG = s, true
		case HAProxy:
			h, okH = s, true
		}
	}
	return g, h, okG && okH
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// HAProxyConfig is the generated HAProxy configuration: loopback frontend
// on listen, round-robin over the gateways with an inserted SERVERID
// cookie, keep-alive both sides, health checks like the Go lb's.
func HAProxyConfig(listen string, gateways []string) string {
	var b strings.Builder
	// No global maxconn: HAProxy derives it from the file descriptor limit.
	b.WriteString(`defaults
    mode http
    option http-keep-alive
    option forwardfor
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s

frontend fe
    bind ` + listen + `
    default_backend gateways

backend gateways
    balance roundrobin
    cookie SERVERID insert indirect nocache
    http-reuse safe
    option httpchk GET /healthz
`)
	for i, a := range gateways {
		fmt.Fprintf(&b, "    server gw%d %s cookie gw%d check inter 1s fall 2 rise 2\n", i+1, a, i+1)
	}
	return b.String()
}

// findHAProxy returns the haproxy binary, installing it with apt-get when
// missing, allowed by install, and running as root.
func findHAProxy(ctx context.Context, path string, install bool, log *slog.Logger) (string, error) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%w: %v", ErrNoHAProxy, err)
		}
		return path, nil
	}
	look := func() (string, bool) {
		if p, err := exec.LookPath("haproxy"); err == nil {
			return p, true
		}
		if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
			return "/usr/sbin/haproxy", true
		}
		return "", false
	}
	if p, ok := look(); ok {
		return p, nil
	}
	if !install {
		return "", fmt.Errorf("%w: not installed (apt-get install -y haproxy)", ErrNoHAProxy)
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%w: not installed, and installing it needs root (apt-get install -y haproxy)", ErrNoHAProxy)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", fmt.Errorf("%w: not installed and no apt-get", ErrNoHAProxy)
	}
	log.Info("haproxy missing: apt-get install -y haproxy")
	ictx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ictx, "apt-get", "install", "-y", "haproxy")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: apt-get install -y haproxy: %v\n%s", ErrNoHAProxy, err, tail(out))
	}
	if p, ok := look(); ok {
		return p, nil
	}
	return "", fmt.Errorf("%w: still missing after apt-get install", ErrNoHAProxy)
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	if sc.Scan() {
		return sc.Text()
	}
	return ""
}

// procSet owns the started processes.
type procSet struct {
	log   *slog.Logger
	mu    sync.Mutex
	procs []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 { // keep memory bounded; the tail matters
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// errExited: a process exited before it was ready.
var errExited = errors.New("exited before it was ready")

// startAttempts bounds how often a process is started on fresh ports.
const startAttempts = 3

// startOnFreePorts starts a process with args(addrs) on nPorts freshly
// reserved loopback addresses and waits for ready(addrs); when it exits
// first (typically: a port was taken between reservation and bind) it is
// started again on other ports.
func (s *procSet) startOnFreePorts(ctx context.Context, name, bin string, env []string, nPorts int,
	ready func([]string) string, args func([]string) []string) (*proc, []string, error) {
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		addrs := make([]string, nPorts)
		for i := range addrs {
			a, err := netutil.FreeLoopbackAddr()
			if err != nil {
				return nil, nil, err
			}
			addrs[i] = a
		}
		p, err := s.startProc(ctx, name, bin, env, ready(addrs), args(addrs)...)
		if err == nil {
			return p, addrs, nil
		}
		if !errors.Is(err, errExited) {
			return nil, nil, err
		}
		lastErr = err
		s.log.Warn("process exited before it was ready; starting it on other ports", "name", name, "attempt", attempt)
	}
	return nil, nil, lastErr
}

// startProc starts bin in its own process group (killed with the bench
// through the parent-death signal too) and waits for ready to answer 200.
func (s *procSet) startProc(ctx context.Context, name, bin string, env []string, ready string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	werr := make(chan error, 1)
	go func() { werr <- netutil.WaitHTTP(wctx, ready) }()
	select {
	case err := <-werr:
		if err != nil {
			return nil, fmt.Errorf("%s not ready: %w\n%s", name, err, tail([]byte(out.String())))
		}
	case <-p.done:
		cancel()
		<-werr
		s.forget(p)
		return nil, fmt.Errorf("%s %w:\n%s", name, errExited, tail([]byte(out.String())))
	}
	s.log.Debug("started", "name", name, "pid", cmd.Process.Pid)
	return p, nil
}

// forget drops an exited process from the ones stopAll stops.
func (s *procSet) forget(p *proc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.procs = slices.DeleteFunc(s.procs, func(x *proc) bool { return x == p })
}

// stopAll stops every process (SIGTERM, SIGKILL after 5 s) and waits.
func (s *procSet) stopAll() {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for _, p := range procs {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
}
