// Package lbbench measures authlab's Go load balancer against HAProxy at
// saturation: the same chain (auth + backend + N gateway instances with the
// "none" strategy) is started once, with a Go lb and an HAProxy per policy
// in front of it (round-robin: HAProxy balance roundrobin; sticky: HAProxy
// cookie insert), then rounds alternate between the Go lb and HAProxy,
// each driven by the vegeta library with a fixed number of concurrent
// workers (a closed-loop, max-throughput test). Every round records the
// CPU of the proxy, of the load generator (this process), of the gateways
// and of the whole machine, so that the report can say which side ran
// out. Medians over the rounds are reported with their spread, the
// Go/HAProxy ratios and the targets.
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
	"runtime"
	"slices"
	"strconv"
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

// Proxy names. GoLBB is the second Go lb of an A/B run (Config.VersusArgs
// or VersusExecutable): another build or other flags, measured in the same
// rotating rounds.
const (
	GoLB    = "go-lb"
	GoLBB   = "go-lb-b"
	HAProxy = "haproxy"
)

// Policies measured: the Go lb's policy names (HAProxy is configured to
// match: roundrobin; roundrobin with an inserted cookie).
const (
	RoundRobin = catalog.PolicyRoundRobin
	Sticky     = catalog.PolicySticky
)

// Targets are the Go lb's goals relative to HAProxy (issue 13).
const (
	TargetThroughput = 0.95 // Go lb req/s ≥ this × HAProxy's
	TargetP99        = 1.10 // Go lb p99 ≤ this × HAProxy's
	TargetCPU        = 1.30 // Go lb CPU per request ≤ this × HAProxy's
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
	// Policies are the policies measured; default round-robin and sticky.
	// Sticky rounds send pinned clients: the targets carry one pin cookie
	// per instance, taken from the proxy's own answers.
	Policies []string
	// Duration is one measured round; default 5s.
	Duration time.Duration
	// Warmup precedes every round, unmeasured; default 1s.
	Warmup time.Duration
	// Repeats is the number of rounds per proxy, policy and path; default 5.
	Repeats int
	// Workers is the number of concurrent vegeta workers (each one request
	// at a time, keep-alive); default 32.
	Workers int
	// LBArgs are extra flags for the Go lb (e.g. "--gc-percent", "100").
	LBArgs []string
	// VersusExecutable and VersusArgs, when either is set, add a second Go
	// lb (GoLBB) to every round: the authlab binary VersusExecutable
	// (default Executable) with the flags VersusArgs instead of LBArgs.
	// The rounds rotate the three proxies, so a change to the lb (a build
	// before and after it, or a flag off and on) is measured against the
	// other side at the same moment, not against a run made earlier.
	VersusExecutable string
	VersusArgs       []string
	// AAControl adds a second Go lb that is the first one's twin (same
	// binary, same LBArgs): an A/A control whose B/A ratios show how far
	// from 1.00 the noise alone puts a paired ratio. It excludes
	// VersusExecutable and VersusArgs.
	AAControl bool
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

// versus reports whether the run is an A/B run with a second Go lb.
func (c Config) versus() bool {
	return c.AAControl || c.VersusExecutable != "" || len(c.VersusArgs) > 0
}

// versusArgs are the second Go lb's flags.
func (c Config) versusArgs() []string {
	if c.AAControl {
		return c.LBArgs
	}
	return c.VersusArgs
}

func (c *Config) setDefaults() {
	if c.Instances == 0 {
		c.Instances = 3
	}
	if len(c.Paths) == 0 {
		c.Paths = []string{"/api/me", "/healthz"}
	}
	if len(c.Policies) == 0 {
		c.Policies = []string{RoundRobin, Sticky}
	}
	if c.Duration == 0 {
		c.Duration = 5 * time.Second
	}
	if c.Warmup == 0 {
		c.Warmup = time.Second
	}
	if c.Repeats == 0 {
		c.Repeats = 5
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
	if c.AAControl && (c.VersusExecutable != "" || len(c.VersusArgs) > 0) {
		errs = append(errs, errors.New("an A/A control's second lb is the first one's twin: no versus executable or arguments"))
	}
	if c.VersusExecutable != "" {
		if fi, err := os.Stat(c.VersusExecutable); err != nil {
			errs = append(errs, fmt.Errorf("versus executable: %w", err))
		} else if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("versus executable %s is not an executable file", c.VersusExecutable))
		}
	}
	for _, p := range c.Paths {
		if !strings.HasPrefix(p, "/") {
			errs = append(errs, fmt.Errorf("path %q must start with /", p))
		}
	}
	for _, p := range c.Policies {
		if p != RoundRobin && p != Sticky {
			errs = append(errs, fmt.Errorf("policy %q: want %s or %s", p, RoundRobin, Sticky))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lbbench: %w", err)
	}
	return nil
}

// Round is one measured attack. CPU figures are CPU seconds per second of
// the round (1.0 = one core busy).
type Round struct {
	Proxy      string        `json:"proxy"`
	Policy     string        `json:"policy"`
	Path       string        `json:"path"`
	Round      int           `json:"round"`
	Requests   int           `json:"requests"`
	Errors     int           `json:"errors"`     // transport errors and non-2xx
	Throughput float64       `json:"throughput"` // successful requests per second
	P50        time.Duration `json:"p50"`
	P99        time.Duration `json:"p99"`
	ProxyCPU   float64       `json:"proxy_cpu"`     // the proxy process
	GenCPU     float64       `json:"generator_cpu"` // this process: vegeta
	GatewayCPU float64       `json:"gateway_cpu"`   // the gateways, summed
	MaxGateway float64       `json:"max_gateway"`   // the busiest gateway
	ChainCPU   float64       `json:"chain_cpu"`     // auth + backend
	MachineCPU float64       `json:"machine_cpu"`   // every process on the machine (/proc/stat)
}

// CPUPerReq is the proxy's CPU microseconds per successful request.
func (r Round) CPUPerReq() float64 { return perReq(r.ProxyCPU, r.Throughput) }

func perReq(cpu, rps float64) float64 {
	if rps == 0 {
		return math.NaN()
	}
	return 1e6 * cpu / rps
}

// Spread is a median with the minimum and maximum over the rounds.
type Spread struct{ Median, Min, Max float64 }

func spread(v []float64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	return Spread{Median: median(v), Min: slices.Min(v), Max: slices.Max(v)}
}

// Summary is one proxy on one policy and path, over the rounds.
type Summary struct {
	Proxy, Policy, Path string
	Rounds              int
	Throughput          Spread
	P50, P99            Spread // nanoseconds
	CPUPerReq           Spread // proxy CPU µs per request
	ProxyCPU            float64
	GenCPU, GatewayCPU  float64 // medians, cores
	MaxGateway          float64
	ChainCPU            float64
	MachineCPU          float64
	Errors              int
}

// Report is a run's result.
type Report struct {
	Config    Config
	CPUs      int // logical CPUs of the machine
	Rounds    []Round
	Summaries []Summary
	HAProxy   string // haproxy -v first line
}

// Run starts the chain and the proxies, runs the alternating rounds and
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
	pairs := make(map[string][]target, len(cfg.Policies))
	for _, policy := range cfg.Policies {
		goLB, err := startGoLB(ctx, procs, gateways, policy, GoLB, "", cfg.LBArgs)
		if err != nil {
			return nil, err
		}
		haLB, err := startHAProxy(ctx, procs, haproxy, gateways, policy)
		if err != nil {
			return nil, err
		}
		pairs[policy] = []target{goLB, haLB}
		if cfg.versus() {
			b, err := startGoLB(ctx, procs, gateways, policy, GoLBB, cfg.VersusExecutable, cfg.versusArgs())
			if err != nil {
				return nil, err
			}
			pairs[policy] = append(pairs[policy], b)
		}
	}
	rep := &Report{Config: cfg, CPUs: runtime.NumCPU(), HAProxy: haproxyVersion(ctx, haproxy)}
	if rep.Rounds, err = runRounds(ctx, cfg, pairs, chainPIDs(procs)); err != nil {
		return nil, err
	}
	rep.Summaries = summarize(rep.Rounds, cfg.Policies, cfg.Paths)
	return rep, nil
}

// target is a proxy under test: its base URL, its policy and its process
// (whose CPU time is sampled).
type target struct {
	name, policy, base string
	pid                int
}

// gateway is one instance behind the proxies.
type gateway struct{ data, admin string }

// pids are the chain's processes sampled every round.
type pids struct {
	gateways []int
	chain    []int // auth, backend
}

func chainPIDs(procs *topology.Group) pids {
	var p pids
	for _, m := range procs.Members() {
		switch name := m.Name(); {
		case strings.HasPrefix(name, "gw"):
			p.gateways = append(p.gateways, m.PID())
		case name == "auth" || name == "backend":
			p.chain = append(p.chain, m.PID())
		}
	}
	return p
}

// startChain starts auth, backend and n gateways (strategy none) on their
// own, so that every proxy fronts the same instances.
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

// startGoLB starts a Go lb named name (GoLB or GoLBB) with policy over the
// gateways as external instances; exe "" is the group's binary.
func startGoLB(ctx context.Context, procs *topology.Group, gws []gateway, policy, name, exe string, args []string) (target, error) {
	external := make([]string, len(gws))
	for i, g := range gws {
		external[i] = g.data + "@" + g.admin
	}
	p, data, _, err := procs.StartLB(ctx, topology.LB{Name: name + "-" + policy, Path: exe, Policy: policy,
		External: external, Args: append([]string{"--health-interval", "1s"}, args...)})
	if err != nil {
		return target{}, err
	}
	return target{name: name, policy: policy, base: "http://" + data, pid: p.PID()}, nil
}

// startHAProxy writes the generated configuration for policy, checks it
// and starts HAProxy with it.
func startHAProxy(ctx context.Context, procs *topology.Group, haproxy string, gws []gateway, policy string) (target, error) {
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
	if err := os.WriteFile(cfgPath, []byte(HAProxyConfig(addr, data, policy == Sticky)), 0o600); err != nil {
		return target{}, err
	}
	if out, err := exec.CommandContext(ctx, haproxy, "-c", "-f", cfgPath).CombinedOutput(); err != nil {
		return target{}, fmt.Errorf("haproxy -c: %w\n%s", err, out)
	}
	p, _, err := procs.Start(ctx, topology.Service{Name: HAProxy + "-" + policy, Path: haproxy, Addrs: []string{addr},
		Args: func([]string) []string { return []string{"-f", cfgPath, "-db"} }})
	if err != nil {
		return target{}, err
	}
	return target{name: HAProxy, policy: policy, base: "http://" + addr, pid: p.PID()}, nil
}

func haproxyVersion(ctx context.Context, haproxy string) string {
	ver, _ := exec.CommandContext(ctx, haproxy, "-v").Output()
	return firstLine(string(ver))
}

// runRounds measures every policy and path through every proxy,
// cfg.Repeats times, rotating which proxy goes first (with two proxies:
// alternating).
func runRounds(ctx context.Context, cfg Config, pairs map[string][]target, chain pids) ([]Round, error) {
	var rounds []Round
	for r := range cfg.Repeats {
		for _, policy := range cfg.Policies {
			proxies := pairs[policy]
			for _, path := range cfg.Paths {
				for _, tg := range rotation(proxies, r) {
					round, err := measureRound(ctx, cfg, tg, path, chain)
					if err != nil {
						return nil, err
					}
					round.Round = r + 1
					cfg.Logger.Info("round", "proxy", tg.name, "policy", policy, "path", path, "round", r+1,
						"rps", int(round.Throughput), "p99", round.P99, "proxy_cpu", fmt.Sprintf("%.2f", round.ProxyCPU),
						"generator_cpu", fmt.Sprintf("%.2f", round.GenCPU), "errors", round.Errors)
					rounds = append(rounds, round)
				}
			}
		}
	}
	return rounds, nil
}

// rotation is the order of round r: ts rotated left by r, so that each
// proxy goes first, second, … in turn.
func rotation(ts []target, r int) []target {
	if len(ts) == 0 {
		return nil
	}
	k := r % len(ts)
	return append(slices.Clone(ts[k:]), ts[:k]...)
}

// measureRound warms tg up on path, then measures one round.
func measureRound(ctx context.Context, cfg Config, tg target, path string, chain pids) (Round, error) {
	targets, err := requestTargets(ctx, tg, path, cfg.Instances)
	if err != nil {
		return Round{}, err
	}
	if cfg.Warmup > 0 {
		if _, err := attack(ctx, targets, cfg.Workers, cfg.Warmup, nil); err != nil {
			return Round{}, err
		}
	}
	round, err := attack(ctx, targets, cfg.Workers, cfg.Duration, &probes{proxy: tg.pid, chain: chain})
	round.Proxy, round.Policy, round.Path = tg.name, tg.policy, path
	return round, err
}

// requestTargets are the requests of a round: one plain GET, or for the
// sticky policy one GET per instance carrying the proxy's pin cookie for
// it (pinned clients, spread over the instances).
func requestTargets(ctx context.Context, tg target, path string, instances int) ([]vegeta.Target, error) {
	url := tg.base + path
	if tg.policy != Sticky {
		return []vegeta.Target{{Method: http.MethodGet, URL: url}}, nil
	}
	seen := map[string]bool{}
	var out []vegeta.Target
	client := &http.Client{Timeout: 5 * time.Second}
	for i := 0; i < 10*instances && len(out) < instances; i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("pin cookies from %s: %w", tg.name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			v := c.Name + "=" + c.Value
			if !seen[v] {
				seen[v] = true
				out = append(out, vegeta.Target{Method: http.MethodGet, URL: url, Header: http.Header{"Cookie": {v}}})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s (policy %s) set no pin cookie", tg.name, tg.policy)
	}
	return out, nil
}

// probes are the processes whose CPU a measured attack samples.
type probes struct {
	proxy int
	chain pids
}

// cpuSnapshot is the CPU seconds used so far by each probed side.
type cpuSnapshot struct {
	proxy, gen, chain, machine float64
	gateways                   []float64
}

func (p *probes) snapshot() cpuSnapshot {
	s := cpuSnapshot{proxy: procCPU(p.proxy), gen: procCPU(os.Getpid()), machine: machineCPU()}
	for _, pid := range p.chain.gateways {
		s.gateways = append(s.gateways, procCPU(pid))
	}
	for _, pid := range p.chain.chain {
		s.chain += procCPU(pid)
	}
	return s
}

// attack runs one closed-loop attack of workers concurrent workers for du
// over targets (in turn) and measures it; pr (when not nil) names the
// processes whose CPU is sampled.
func attack(ctx context.Context, targets []vegeta.Target, workers int, du time.Duration, pr *probes) (Round, error) {
	atk := vegeta.NewAttacker(
		vegeta.Workers(uint64(workers)),
		vegeta.MaxWorkers(uint64(workers)),
		vegeta.Connections(workers),
		vegeta.MaxConnections(workers),
		vegeta.KeepAlive(true),
		vegeta.Timeout(10*time.Second),
		vegeta.Redirects(vegeta.NoFollow),
	)
	tr := vegeta.NewStaticTargeter(targets...)
	var before cpuSnapshot
	if pr != nil {
		before = pr.snapshot()
	}
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
	if pr != nil {
		after := pr.snapshot()
		r.ProxyCPU = (after.proxy - before.proxy) / elapsed
		r.GenCPU = (after.gen - before.gen) / elapsed
		r.ChainCPU = (after.chain - before.chain) / elapsed
		r.MachineCPU = (after.machine - before.machine) / elapsed
		for i := range after.gateways {
			g := (after.gateways[i] - before.gateways[i]) / elapsed
			r.GatewayCPU += g
			r.MaxGateway = max(r.MaxGateway, g)
		}
	}
	r.Throughput = float64(len(lat)) / elapsed
	slices.Sort(lat)
	r.P50, r.P99 = report.Quantile(lat, 0.50), report.Quantile(lat, 0.99)
	if len(lat) == 0 {
		return r, fmt.Errorf("attack on %s: no successful request out of %d", targets[0].URL, r.Requests)
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

// machineCPU returns the CPU seconds every process of the machine has
// used (all CPUs, /proc/stat; 0 when unknown).
func machineCPU() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	return parseMachineCPU(string(b))
}

// parseMachineCPU sums the busy fields (all but idle and iowait) of the
// aggregate "cpu" line of /proc/stat, in seconds (USER_HZ = 100).
func parseMachineCPU(stat string) float64 {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0
		}
		busy += n
	}
	return busy / 100
}

// summarize returns per policy, path and proxy the medians and spreads
// over the rounds.
func summarize(rounds []Round, policies, paths []string) []Summary {
	var out []Summary
	for _, policy := range policies {
		for _, path := range paths {
			for _, proxy := range []string{GoLB, GoLBB, HAProxy} {
				var tp, p50, p99, cpr, cpu, gen, gw, maxgw, chain, machine []float64
				s := Summary{Proxy: proxy, Policy: policy, Path: path}
				for _, r := range rounds {
					if r.Path != path || r.Proxy != proxy || r.Policy != policy {
						continue
					}
					s.Rounds++
					tp = append(tp, r.Throughput)
					p50 = append(p50, float64(r.P50))
					p99 = append(p99, float64(r.P99))
					cpr = append(cpr, r.CPUPerReq())
					cpu = append(cpu, r.ProxyCPU)
					gen = append(gen, r.GenCPU)
					gw = append(gw, r.GatewayCPU)
					maxgw = append(maxgw, r.MaxGateway)
					chain = append(chain, r.ChainCPU)
					machine = append(machine, r.MachineCPU)
					s.Errors += r.Errors
				}
				if s.Rounds == 0 {
					continue
				}
				s.Throughput, s.P50, s.P99, s.CPUPerReq = spread(tp), spread(p50), spread(p99), spread(cpr)
				s.ProxyCPU, s.GenCPU, s.GatewayCPU = median(cpu), median(gen), median(gw)
				s.MaxGateway, s.ChainCPU, s.MachineCPU = median(maxgw), median(chain), median(machine)
				out = append(out, s)
			}
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

// Bottleneck says which side ran out during s's rounds: the machine when
// its CPUs were (nearly) all busy, else the process nearest a whole core
// (the generator, the proxy, a gateway), else none (the closed loop's
// latency bounds the rate).
func Bottleneck(s Summary, cpus int) string {
	other := max(0, s.MachineCPU-s.GenCPU-s.ProxyCPU-s.GatewayCPU-s.ChainCPU)
	shares := fmt.Sprintf("generator %.2f, %s %.2f, gateways %.2f (busiest %.2f), auth+backend %.2f, other processes %.2f cores",
		s.GenCPU, s.Proxy, s.ProxyCPU, s.GatewayCPU, s.MaxGateway, s.ChainCPU, other)
	if cpus > 0 && s.MachineCPU >= 0.9*float64(cpus) {
		return fmt.Sprintf("the machine (%.2f of %d cores busy: %s)", s.MachineCPU, cpus, shares)
	}
	type side struct {
		name  string
		cores float64
	}
	sides := []side{{"the load generator", s.GenCPU}, {"the " + s.Proxy, s.ProxyCPU}, {"a gateway", s.MaxGateway}}
	best := slices.MaxFunc(sides, func(a, b side) int { return cmpFloat(a.cores, b.cores) })
	if best.cores >= 0.9 {
		return fmt.Sprintf("%s (%.2f of a core; %s)", best.name, best.cores, shares)
	}
	return fmt.Sprintf("none: latency-bound (%s)", shares)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// WriteTable prints the rounds, the summaries with their spread, which
// side ran out, and the Go/HAProxy ratios against the targets.
func (r *Report) WriteTable(w io.Writer) error {
	c := r.Config
	order := "alternating"
	if c.versus() {
		order = "rotating"
	}
	fmt.Fprintf(w, "bench-lb: %d gateway instances (strategy %s), %d workers (closed loop, keep-alive), %v rounds after %v warm-up, %d %s repeats, %d CPUs\n",
		c.Instances, catalog.Control(), c.Workers, c.Duration, c.Warmup, c.Repeats, order, r.CPUs)
	fmt.Fprintf(w, "Go lb: --policy round-robin | sticky (pinned clients: cookie %s) %s; HAProxy: %s, balance roundrobin | + cookie SERVERID insert indirect nocache\n",
		"authlab_lb", strings.Join(c.LBArgs, " "), r.HAProxy)
	if c.versus() {
		exe := c.VersusExecutable
		if exe == "" {
			exe = c.Executable
		}
		twin := ""
		if c.AAControl {
			twin = " (A/A control: the Go lb's twin)"
		}
		fmt.Fprintf(w, "Go lb B (%s)%s: %s %s; the three proxies take turns going first\n", GoLBB, twin, exe, strings.Join(c.versusArgs(), " "))
	}
	fmt.Fprintln(w, "CPU columns: cores busy during the round (1.00 = one core); µs/req: the proxy's CPU per successful request")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tpath\tproxy\tround\treq/s\tp50\tp99\tproxy\tµs/req\tgenerator\tgateways\tmachine\terrors\t")
	for _, x := range r.Rounds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.0f\t%s\t%s\t%.2f\t%.1f\t%.2f\t%.2f\t%.2f\t%d\t\n", x.Policy, x.Path, x.Proxy, x.Round,
			x.Throughput, ms(float64(x.P50)), ms(float64(x.P99)), x.ProxyCPU, x.CPUPerReq(), x.GenCPU, x.GatewayCPU, x.MachineCPU, x.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nmedians [min–max] over the rounds:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tpath\tproxy\treq/s\tp50\tp99\tproxy CPU µs/req\tproxy\tgenerator\tgateways\tmachine\terrors\t")
	for _, s := range r.Summaries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t\n", s.Policy, s.Path, s.Proxy,
			fmtSpread(s.Throughput, "%.0f"), spreadMS(s.P50), spreadMS(s.P99), fmtSpread(s.CPUPerReq, "%.1f"),
			s.ProxyCPU, s.GenCPU, s.GatewayCPU, s.MachineCPU, s.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nwhat ran out (medians):")
	for _, s := range r.Summaries {
		fmt.Fprintf(w, "  %s %s %s: %s\n", s.Policy, s.Path, s.Proxy, Bottleneck(s, r.CPUs))
	}
	pass, err := r.writeVersusHAProxy(w, GoLB, "Go lb")
	if err != nil {
		return err
	}
	if c.versus() {
		if _, err := r.writeVersusHAProxy(w, GoLBB, "Go lb B"); err != nil {
			return err
		}
		if err := r.writeAB(w); err != nil {
			return err
		}
	}
	if pass {
		fmt.Fprintln(w, "all targets met")
	} else {
		fmt.Fprintln(w, "targets NOT all met (see the FAIL marks; check what ran out before blaming a proxy)")
	}
	return nil
}

// writeVersusHAProxy prints proxy over HAProxy against the targets and
// reports whether every policy and path met them. The ratios are paired:
// each round's proxy over the same round's HAProxy, the two measured back
// to back, then the median [min–max] over the rounds. Pairing cancels
// what drifts between rounds (other load, the host's clock speed): on
// two shared cores a round's throughput varies by a quarter from one
// round to the next, and a ratio of two medians taken from different
// rounds carries that drift. The ratio of the medians is printed too.
func (r *Report) writeVersusHAProxy(w io.Writer, proxy, title string) (bool, error) {
	fmt.Fprintf(w, "\n%s / HAProxy, round by round (each round's %s over the same round's HAProxy): median [min–max] over the rounds\n", title, proxy)
	fmt.Fprintf(w, "(targets on the medians: throughput ≥ %.2f, p99 ≤ %.2f, CPU per request ≤ %.2f; last column: the ratios of the medians, unpaired)\n",
		TargetThroughput, TargetP99, TargetCPU)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tpath\trounds\tthroughput\tp50\tp99\tCPU per request\tverdict\tunpaired: throughput, p99, CPU\t")
	pass := true
	for _, policy := range r.Config.Policies {
		for _, path := range r.Config.Paths {
			g, okG := r.summary(proxy, policy, path)
			h, okH := r.summary(HAProxy, policy, path)
			if !okG || !okH {
				continue
			}
			tps := r.pairedRatios(proxy, HAProxy, policy, path, throughputOf)
			tp := spread(tps)
			p50 := spread(r.pairedRatios(proxy, HAProxy, policy, path, p50Of))
			p99 := spread(r.pairedRatios(proxy, HAProxy, policy, path, p99Of))
			cpu := spread(r.pairedRatios(proxy, HAProxy, policy, path, cpuPerReqOf))
			verdict := verdictOf(tp.Median, p99.Median, cpu.Median)
			pass = pass && verdict == "PASS"
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.2f\t%s\t%s\t%s\t%.3f, %.3f, %.3f\t\n", policy, path,
				len(tps),
				markSpread(tp, tp.Median >= TargetThroughput), p50.Median,
				markSpread(p99, p99.Median <= TargetP99), markSpread(cpu, cpu.Median <= TargetCPU), verdict,
				ratio(g.Throughput.Median, h.Throughput.Median), ratio(g.P99.Median, h.P99.Median),
				ratio(g.CPUPerReq.Median, h.CPUPerReq.Median))
		}
	}
	return pass, tw.Flush()
}

// writeAB prints the second Go lb over the first, round by round (each
// round's B over that round's A, measured back to back), as median
// [min–max]: a change whose per-round ratios straddle 1.00 is within the
// noise. In an A/A control (Config.AAControl) B is A's twin, and the
// spread is the noise floor of every paired ratio of the run.
func (r *Report) writeAB(w io.Writer) error {
	if r.Config.AAControl {
		fmt.Fprintln(w, "\nA/A control: Go lb B (the same lb, started twice) / Go lb, round by round, median [min–max]; a ratio above is no better known than these are far from 1.00:")
	} else {
		fmt.Fprintln(w, "\nGo lb B / Go lb, round by round, median [min–max] (below 1.00: B is faster or cheaper):")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tpath\tthroughput\tp99\tCPU per request\t")
	for _, policy := range r.Config.Policies {
		for _, path := range r.Config.Paths {
			if _, ok := r.summary(GoLBB, policy, path); !ok {
				continue
			}
			f := func(m func(Round) float64) string {
				return fmtSpread(spread(r.pairedRatios(GoLBB, GoLB, policy, path, m)), "%.3f")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", policy, path, f(throughputOf), f(p99Of), f(cpuPerReqOf))
		}
	}
	return tw.Flush()
}

// Per-round metrics that the paired ratios compare.
func throughputOf(x Round) float64 { return x.Throughput }
func p50Of(x Round) float64        { return float64(x.P50) }
func p99Of(x Round) float64        { return float64(x.P99) }
func cpuPerReqOf(x Round) float64  { return x.CPUPerReq() }

// pairedRatios is, for every round number measured by both proxies a and
// b on policy and path, metric(a's round) / metric(b's round), in round
// order.
func (r *Report) pairedRatios(a, b, policy, path string, metric func(Round) float64) []float64 {
	of := map[int]float64{}
	for _, x := range r.Rounds {
		if x.Policy == policy && x.Path == path && x.Proxy == b {
			of[x.Round] = metric(x)
		}
	}
	var out []float64
	for _, x := range r.Rounds {
		if x.Policy == policy && x.Path == path && x.Proxy == a {
			if v, ok := of[x.Round]; ok {
				out = append(out, ratio(metric(x), v))
			}
		}
	}
	return out
}

// verdictOf is PASS when the three ratios meet their targets.
func verdictOf(tp, p99, cpu float64) string {
	if tp >= TargetThroughput && p99 <= TargetP99 && cpu <= TargetCPU {
		return "PASS"
	}
	var failed []string
	if !(tp >= TargetThroughput) {
		failed = append(failed, "throughput")
	}
	if !(p99 <= TargetP99) {
		failed = append(failed, "p99")
	}
	if !(cpu <= TargetCPU) {
		failed = append(failed, "CPU")
	}
	return "FAIL (" + strings.Join(failed, ", ") + ")"
}

// markSpread prints a ratio's median [min–max] with the median's
// verdict, to three decimals: a ratio just past a target must not print
// as the target itself.
func markSpread(s Spread, ok bool) string {
	v := "FAIL"
	if ok {
		v = "ok"
	}
	return fmtSpread(s, "%.3f") + " " + v
}

func fmtSpread(s Spread, f string) string {
	return fmt.Sprintf(f+" ["+f+"–"+f+"]", s.Median, s.Min, s.Max)
}

func spreadMS(s Spread) string {
	return fmt.Sprintf("%s [%s–%s]", ms(s.Median), ms(s.Min), ms(s.Max))
}

// summary is proxy's summary on policy and path.
func (r *Report) summary(proxy, policy, path string) (Summary, bool) {
	for _, s := range r.Summaries {
		if s.Proxy == proxy && s.Policy == policy && s.Path == path {
			return s, true
		}
	}
	return Summary{}, false
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func ms(ns float64) string { return fmt.Sprintf("%.2fms", ns/float64(time.Millisecond)) }

// HAProxyConfig is the generated HAProxy configuration: loopback frontend
// on listen, round-robin over the gateways (with sticky, pinned by an
// inserted SERVERID cookie), keep-alive both sides, health checks like
// the Go lb's.
func HAProxyConfig(listen string, gateways []string, sticky bool) string {
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
`)
	if sticky {
		b.WriteString("    cookie SERVERID insert indirect nocache\n")
	}
	b.WriteString(`    http-reuse safe
    option httpchk GET /healthz
`)
	for i, a := range gateways {
		cookie := ""
		if sticky {
			cookie = fmt.Sprintf(" cookie gw%d", i+1)
		}
		fmt.Fprintf(&b, "    server gw%d %s%s check inter 1s fall 2 rise 2\n", i+1, a, cookie)
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
