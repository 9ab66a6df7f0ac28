// Package lbbench measures authlab's Go load balancer against HAProxy at
// saturation: the same chain (auth + backend + N gateway instances with the
// "none" strategy) is started once, then rounds alternate between the Go lb
// and HAProxy in front of it, each driven by the vegeta library with a fixed
// number of concurrent workers (a closed-loop, max-throughput test). Medians
// over the rounds are reported with the Go/HAProxy ratios.
package lbbench

import (
	"bufio"
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
	"strings"
	"text/tabwriter"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/measure"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/bench/topology"
	"github.com/authlab/authlab/internal/proc"
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
	haproxy, err := findHAProxy(ctx, cfg.HAProxyPath, cfg.InstallHAProxy, cfg.Logger)
	if err != nil {
		return nil, err
	}
	procs, err := topology.NewGroup(topology.GroupConfig{Exe: cfg.Executable, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	defer procs.Stop()
	gateways, err := startChain(ctx, procs, cfg.Instances)
	if err != nil {
		return nil, err
	}
	goLB, err := startGoLB(ctx, procs, gateways, cfg.LBArgs)
	if err != nil {
		return nil, err
	}
	haLB, err := startHAProxy(ctx, procs, haproxy, gateways)
	if err != nil {
		return nil, err
	}
	rep := &Report{Config: cfg, HAProxy: haproxyVersion(ctx, haproxy)}
	if rep.Rounds, err = runRounds(ctx, cfg, goLB, haLB); err != nil {
		return nil, err
	}
	rep.Summaries = summarize(rep.Rounds, cfg.Paths)
	return rep, nil
}

// target is a proxy under test: its base URL and its process (whose CPU
// time is sampled).
type target struct {
	name string
	base string
	pid  int
}

// gateway is one instance behind both proxies.
type gateway struct{ data, admin string }

// startChain starts auth, backend and n gateways (strategy none) on their
// own, so that both proxies front the same instances.
func startChain(ctx context.Context, procs *topology.Group, n int) ([]gateway, error) {
	authURL, err := procs.StartAuth(ctx, 10, 4)
	if err != nil {
		return nil, err
	}
	backendURL, err := procs.StartBackend(ctx)
	if err != nil {
		return nil, err
	}
	gws := make([]gateway, n)
	for i := range gws {
		gws[i].data, gws[i].admin, err = procs.StartGateway(ctx, fmt.Sprintf("gw%d", i+1),
			topology.Gateways{Strategy: catalog.Control(), AuthURL: authURL, BackendURL: backendURL})
		if err != nil {
			return nil, err
		}
	}
	return gws, nil
}

// startGoLB starts the Go lb (policy sticky) over the gateways as external
// instances.
func startGoLB(ctx context.Context, procs *topology.Group, gws []gateway, args []string) (target, error) {
	external := make([]string, len(gws))
	for i, g := range gws {
		external[i] = g.data + "@" + g.admin
	}
	p, data, _, err := procs.StartLB(ctx, topology.LB{Policy: catalog.PolicySticky, External: external,
		Args: append([]string{"--health-interval", "1s"}, args...)})
	if err != nil {
		return target{}, err
	}
	return target{name: GoLB, base: "http://" + data, pid: p.PID()}, nil
}

// startHAProxy writes the generated configuration, checks it and starts
// HAProxy with it.
func startHAProxy(ctx context.Context, procs *topology.Group, haproxy string, gws []gateway) (target, error) {
	addr, err := proc.FreeLoopbackAddr()
	if err != nil {
		return target{}, err
	}
	dir, err := os.MkdirTemp("", "authlab-bench-lb-")
	if err != nil {
		return target{}, err
	}
	defer os.RemoveAll(dir) // HAProxy has read it once it is ready
	data := make([]string, len(gws))
	for i, g := range gws {
		data[i] = g.data
	}
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(HAProxyConfig(addr, data)), 0o600); err != nil {
		return target{}, err
	}
	if out, err := exec.CommandContext(ctx, haproxy, "-c", "-f", cfgPath).CombinedOutput(); err != nil {
		return target{}, fmt.Errorf("haproxy -c: %w\n%s", err, out)
	}
	p, _, err := procs.Start(ctx, topology.Service{Name: HAProxy, Path: haproxy, Addrs: []string{addr},
		Args: func([]string) []string { return []string{"-f", cfgPath, "-db"} }})
	if err != nil {
		return target{}, err
	}
	return target{name: HAProxy, base: "http://" + addr, pid: p.PID()}, nil
}

func haproxyVersion(ctx context.Context, haproxy string) string {
	ver, _ := exec.CommandContext(ctx, haproxy, "-v").Output()
	return firstLine(string(ver))
}

// runRounds measures every path through both proxies, cfg.Repeats times,
// alternating which proxy goes first.
func runRounds(ctx context.Context, cfg Config, goLB, haLB target) ([]Round, error) {
	var rounds []Round
	for r := range cfg.Repeats {
		for _, path := range cfg.Paths {
			order := []target{goLB, haLB}
			if r%2 == 1 {
				order = []target{haLB, goLB}
			}
			for _, tg := range order {
				round, err := measureRound(ctx, cfg, tg, path)
				if err != nil {
					return nil, err
				}
				round.Round = r + 1
				cfg.Logger.Info("round", "proxy", tg.name, "path", path, "round", r+1,
					"rps", int(round.Throughput), "p50", round.P50, "p99", round.P99, "errors", round.Errors)
				rounds = append(rounds, round)
			}
		}
	}
	return rounds, nil
}

// measureRound warms tg up on path, then measures one round.
func measureRound(ctx context.Context, cfg Config, tg target, path string) (Round, error) {
	if cfg.Warmup > 0 {
		if _, err := attack(ctx, tg.base+path, cfg.Workers, cfg.Warmup, 0); err != nil {
			return Round{}, err
		}
	}
	round, err := attack(ctx, tg.base+path, cfg.Workers, cfg.Duration, tg.pid)
	round.Proxy, round.Path = tg.name, path
	return round, err
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
	r.P50, r.P99 = report.Quantile(lat, 0.50), report.Quantile(lat, 0.99)
	if len(lat) == 0 {
		return r, fmt.Errorf("attack on %s: no successful request out of %d", url, r.Requests)
	}
	return r, nil
}

// procCPU returns pid's user+system CPU seconds (0 when unknown).
func procCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	p, err := measure.ReadProc(pid)
	if err != nil {
		return 0
	}
	return p.CPU.Seconds()
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
	fmt.Fprintf(w, "bench-lb: %d gateway instances (strategy %s), %d workers (closed loop, keep-alive), %v rounds after %v warmup, %d alternating repeats\n",
		c.Instances, catalog.Control(), c.Workers, c.Duration, c.Warmup, c.Repeats)
	fmt.Fprintf(w, "Go lb: policy %s (cookie %s); HAProxy: %s, balance roundrobin, cookie SERVERID insert indirect nocache\n\n", catalog.PolicySticky, "authlab_lb", r.HAProxy)
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
