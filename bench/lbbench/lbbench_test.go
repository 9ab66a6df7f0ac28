package lbbench

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSummarizeAndTable(t *testing.T) {
	rr := func(proxy string, n int, tp float64, p99 time.Duration, cpu float64) Round {
		return Round{Proxy: proxy, Policy: RoundRobin, Path: "/x", Round: n, Throughput: tp, P50: 2 * time.Millisecond,
			P99: p99, ProxyCPU: cpu, GenCPU: 0.5, GatewayCPU: 0.6, MaxGateway: 0.2, ChainCPU: 0.1, MachineCPU: 1.5}
	}
	rounds := []Round{
		rr(GoLB, 1, 900, 12*time.Millisecond, 0.45), rr(HAProxy, 1, 1000, 10*time.Millisecond, 0.25),
		rr(GoLB, 2, 700, 30*time.Millisecond, 0.35), rr(HAProxy, 2, 1000, 10*time.Millisecond, 0.25),
		rr(GoLB, 3, 950, 11*time.Millisecond, 0.475), rr(HAProxy, 3, 1000, 10*time.Millisecond, 0.25),
	}
	rounds[2].Errors = 1
	sum := summarize(rounds, []string{RoundRobin, Sticky}, []string{"/x"})
	if len(sum) != 2 {
		t.Fatalf("summaries %+v, want go-lb and haproxy for round-robin only", sum)
	}
	g := sum[0]
	if g.Proxy != GoLB || g.Throughput != (Spread{900, 700, 950}) || g.P99.Median != float64(12*time.Millisecond) ||
		g.Errors != 1 || g.Rounds != 3 || g.CPUPerReq.Median != 500 {
		t.Errorf("go summary %+v, want 900 [700–950] req/s, p99 12ms, 500 µs/req, 1 error", g)
	}
	rep := &Report{Config: Config{Paths: []string{"/x"}, Policies: []string{RoundRobin}, Instances: 3, Workers: 8, Repeats: 3},
		CPUs: 2, Rounds: rounds, Summaries: sum}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	// Per round: throughput 0.9, 0.7, 0.95; p99 1.2, 3.0, 1.1; CPU per
	// request 500/250 every round. Unpaired: 900/1000, 12/10, 500/250.
	for _, want := range []string{"0.900 [0.700–0.950] FAIL", "1.200 [1.100–3.000] FAIL", "2.000 [2.000–2.000] FAIL",
		"0.900, 1.200, 2.000", "900 [700–950]", "medians [min–max]",
		"FAIL (throughput, p99, CPU)", "targets NOT all met", "what ran out", "none: latency-bound"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestRotation(t *testing.T) {
	a, b, h := target{name: GoLB}, target{name: GoLBB}, target{name: HAProxy}
	names := func(ts []target) string {
		var out []string
		for _, t := range ts {
			out = append(out, t.name)
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		ts   []target
		r    int
		want string
	}{
		{[]target{a, h}, 0, "go-lb,haproxy"},
		{[]target{a, h}, 1, "haproxy,go-lb"},
		{[]target{a, h}, 2, "go-lb,haproxy"},
		{[]target{a, h, b}, 0, "go-lb,haproxy,go-lb-b"},
		{[]target{a, h, b}, 1, "haproxy,go-lb-b,go-lb"},
		{[]target{a, h, b}, 2, "go-lb-b,go-lb,haproxy"},
		{[]target{a, h, b}, 3, "go-lb,haproxy,go-lb-b"},
		{nil, 1, ""},
	}
	for _, tt := range tests {
		ts := slices.Clone(tt.ts)
		if got := names(rotation(ts, tt.r)); got != tt.want {
			t.Errorf("rotation(%s, %d) = %s, want %s", names(tt.ts), tt.r, got, tt.want)
		}
		if names(ts) != names(tt.ts) {
			t.Errorf("rotation changed its input: %s", names(ts))
		}
	}
}

// TestABTable: with a second Go lb, the table gives B against HAProxy and
// B over A, medians and per round.
func TestABTable(t *testing.T) {
	rr := func(proxy string, n int, tp, cpu float64) Round {
		return Round{Proxy: proxy, Policy: RoundRobin, Path: "/x", Round: n, Throughput: tp, P50: 2 * time.Millisecond,
			P99: 10 * time.Millisecond, ProxyCPU: cpu, GenCPU: 0.5, GatewayCPU: 0.6, MaxGateway: 0.2, ChainCPU: 0.1, MachineCPU: 1.5}
	}
	// CPU per request (µs): A 500, 500, 600; B 400, 450, 660; HAProxy 250.
	rounds := []Round{
		rr(GoLB, 1, 1000, 0.5), rr(HAProxy, 1, 1000, 0.25), rr(GoLBB, 1, 1000, 0.4),
		rr(HAProxy, 2, 1000, 0.25), rr(GoLBB, 2, 1000, 0.45), rr(GoLB, 2, 1000, 0.5),
		rr(GoLBB, 3, 1000, 0.66), rr(GoLB, 3, 1000, 0.6), rr(HAProxy, 3, 1000, 0.25),
	}
	cfg := Config{Executable: "/bin/authlab", VersusArgs: []string{"--gc-percent", "100"}, Paths: []string{"/x"},
		Policies: []string{RoundRobin}, Instances: 3, Workers: 8, Repeats: 3}
	rep := &Report{Config: cfg, CPUs: 2, Rounds: rounds, Summaries: summarize(rounds, cfg.Policies, cfg.Paths)}
	if len(rep.Summaries) != 3 {
		t.Fatalf("summaries %+v, want go-lb, go-lb-b and haproxy", rep.Summaries)
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	// B over A per round: 0.800, 0.900, 1.100; B / HAProxy per round:
	// 1.600, 1.800, 2.640.
	for _, want := range []string{"Go lb B (go-lb-b): /bin/authlab --gc-percent 100", "Go lb B / HAProxy", "1.800 [1.600–2.640] FAIL",
		"Go lb B / Go lb", "0.900 [0.800–1.100]", "1.000 [1.000–1.000]"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestPairedRatios: ratios pair rounds by number, whatever their order in
// the report; a round one side lacks is left out; other policies, paths
// and proxies are ignored.
func TestPairedRatios(t *testing.T) {
	rd := func(proxy, path string, n int, tp float64) Round {
		return Round{Proxy: proxy, Policy: RoundRobin, Path: path, Round: n, Throughput: tp}
	}
	rep := &Report{Rounds: []Round{
		rd(HAProxy, "/x", 2, 500), rd(GoLB, "/x", 1, 900), rd(GoLB, "/x", 2, 450), rd(HAProxy, "/x", 1, 1000),
		rd(GoLB, "/x", 3, 700), // no HAProxy round 3
		rd(GoLB, "/y", 1, 1), rd(HAProxy, "/y", 1, 1000), rd(GoLBB, "/x", 1, 5),
	}}
	got := rep.pairedRatios(GoLB, HAProxy, RoundRobin, "/x", throughputOf)
	if want := []float64{0.9, 0.9}; !slices.Equal(got, want) {
		t.Errorf("pairedRatios = %v, want %v (rounds 1 and 2, each over its own HAProxy round)", got, want)
	}
	if got := rep.pairedRatios(GoLB, HAProxy, Sticky, "/x", throughputOf); len(got) != 0 {
		t.Errorf("sticky has no rounds, got %v", got)
	}
}

// TestAAControl: the A/A control's second lb takes the first one's
// flags, the table names it so, and it excludes other versus settings.
func TestAAControl(t *testing.T) {
	cfg := Config{Executable: "/bin/authlab", AAControl: true, LBArgs: []string{"--fast-serve"}, Paths: []string{"/x"},
		Policies: []string{RoundRobin}, Instances: 3, Workers: 8, Repeats: 1, Duration: time.Second}
	if !cfg.versus() || !slices.Equal(cfg.versusArgs(), cfg.LBArgs) {
		t.Fatalf("A/A: versus %v, args %v; want a second lb with %v", cfg.versus(), cfg.versusArgs(), cfg.LBArgs)
	}
	rr := func(proxy string, tp float64) Round {
		return Round{Proxy: proxy, Policy: RoundRobin, Path: "/x", Round: 1, Throughput: tp, P99: time.Millisecond, ProxyCPU: 0.5}
	}
	rounds := []Round{rr(GoLB, 1000), rr(HAProxy, 1000), rr(GoLBB, 1040)}
	rep := &Report{Config: cfg, CPUs: 2, Rounds: rounds, Summaries: summarize(rounds, cfg.Policies, cfg.Paths)}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(A/A control: the Go lb's twin): /bin/authlab --fast-serve", "A/A control: Go lb B", "1.040 [1.040–1.040]"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	cfg.VersusArgs = []string{"--gomaxprocs", "1"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "twin") {
		t.Errorf("A/A with versus args: %v, want an error", err)
	}
}

func TestVerdict(t *testing.T) {
	for _, tt := range []struct {
		tp, p99, cpu float64
		want         string
	}{
		{1, 1, 1, "PASS"},
		{0.95, 1.10, 1.30, "PASS"},
		{0.94, 1, 1, "FAIL (throughput)"},
		{1, 1.2, 1.4, "FAIL (p99, CPU)"},
		{math.NaN(), 1, 1, "FAIL (throughput)"},
	} {
		if got := verdictOf(tt.tp, tt.p99, tt.cpu); got != tt.want {
			t.Errorf("verdictOf(%v, %v, %v) = %q, want %q", tt.tp, tt.p99, tt.cpu, got, tt.want)
		}
	}
}

func TestBottleneck(t *testing.T) {
	for _, tt := range []struct {
		name string
		s    Summary
		want string
	}{
		{"machine", Summary{Proxy: GoLB, MachineCPU: 1.9, GenCPU: 0.8, ProxyCPU: 0.5, GatewayCPU: 0.5}, "the machine (1.90 of 2 cores"},
		{"generator", Summary{Proxy: GoLB, MachineCPU: 1.5, GenCPU: 0.95, ProxyCPU: 0.3, GatewayCPU: 0.2}, "the load generator (0.95"},
		{"proxy", Summary{Proxy: HAProxy, MachineCPU: 1.5, GenCPU: 0.3, ProxyCPU: 0.97}, "the haproxy (0.97"},
		{"gateway", Summary{Proxy: GoLB, MachineCPU: 1.5, GenCPU: 0.3, GatewayCPU: 1.1, MaxGateway: 0.92}, "a gateway (0.92"},
		{"none", Summary{Proxy: GoLB, MachineCPU: 1.0, GenCPU: 0.3, ProxyCPU: 0.3}, "none: latency-bound"},
	} {
		if got := Bottleneck(tt.s, 2); !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s: Bottleneck = %q, want prefix %q", tt.name, got, tt.want)
		}
	}
}

func TestParseMachineCPU(t *testing.T) {
	stat := "cpu  100 5 50 1000 20 3 2 0 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n"
	// user+nice+system+irq+softirq+steal = 100+5+50+3+2+0 ticks.
	if got := parseMachineCPU(stat); math.Abs(got-1.6) > 1e-9 {
		t.Errorf("parseMachineCPU = %v, want 1.6 s", got)
	}
	if got := parseMachineCPU("garbage"); got != 0 {
		t.Errorf("parseMachineCPU(garbage) = %v", got)
	}
}

func TestHAProxyConfig(t *testing.T) {
	for _, sticky := range []bool{false, true} {
		cfg := HAProxyConfig("127.0.0.1:9000", []string{"127.0.0.1:1", "127.0.0.1:2"}, sticky)
		want := []string{"bind 127.0.0.1:9000", "balance roundrobin"}
		if sticky {
			want = append(want, "cookie SERVERID insert indirect nocache", "server gw1 127.0.0.1:1 cookie gw1 check",
				"server gw2 127.0.0.1:2 cookie gw2 check")
		} else {
			want = append(want, "server gw1 127.0.0.1:1 check", "server gw2 127.0.0.1:2 check")
			if strings.Contains(cfg, "cookie") {
				t.Errorf("round-robin config has a cookie:\n%s", cfg)
			}
		}
		for _, w := range want {
			if !strings.Contains(cfg, w) {
				t.Errorf("sticky=%v: config lacks %q:\n%s", sticky, w, cfg)
			}
		}
		haproxy, err := exec.LookPath("haproxy")
		if err != nil {
			if _, serr := os.Stat("/usr/sbin/haproxy"); serr != nil {
				t.Skip("haproxy not installed: syntax not checked")
			}
			haproxy = "/usr/sbin/haproxy"
		}
		p := filepath.Join(t.TempDir(), "haproxy.cfg")
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(haproxy, "-c", "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("haproxy -c: %v\n%s", err, out)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Executable: "/bin/true"}, true},
		{"no executable", Config{}, false},
		{"bad path", Config{Executable: "/bin/true", Paths: []string{"api"}}, false},
		{"negative repeats", Config{Executable: "/bin/true", Repeats: -1}, false},
		{"bad policy", Config{Executable: "/bin/true", Policies: []string{"least-conn"}}, false},
		{"versus binary", Config{Executable: "/bin/true", VersusExecutable: "/bin/true"}, true},
		{"versus args only", Config{Executable: "/bin/true", VersusArgs: []string{"--gc-percent", "100"}}, true},
		{"versus binary missing", Config{Executable: "/bin/true", VersusExecutable: "/nonexistent/authlab"}, false},
		{"versus binary is a directory", Config{Executable: "/bin/true", VersusExecutable: "/tmp"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			c.setDefaults()
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestProcCPU(t *testing.T) {
	if got := procCPU(os.Getpid()); got < 0 {
		t.Errorf("procCPU(self) = %v", got)
	}
	if got := procCPU(0); got != 0 {
		t.Errorf("procCPU(0) = %v, want 0", got)
	}
}

// TestRunTiny runs the whole bench for a fraction of a second per round
// with the real binary (skipped with -short or without HAProxy).
func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole chain")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(t.TempDir(), "authlab")
	build := exec.Command("go", "build", "-o", bin, "./cmd/authlab")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{Executable: bin, Paths: []string{"/healthz"}, Duration: 300 * time.Millisecond,
		Warmup: 100 * time.Millisecond, Repeats: 2, Workers: 4})
	if errors.Is(err, ErrNoHAProxy) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// 2 repeats × 2 policies × 1 path × 2 proxies, go first in repeat 1.
	if len(rep.Rounds) != 8 || rep.Rounds[0].Proxy != GoLB || rep.Rounds[0].Policy != RoundRobin ||
		rep.Rounds[2].Policy != Sticky || rep.Rounds[4].Proxy != HAProxy {
		t.Fatalf("rounds %+v, want 8 alternating (go first, then haproxy first), both policies", rep.Rounds)
	}
	for _, r := range rep.Rounds {
		if r.Throughput <= 0 || r.Errors != 0 || r.P99 < r.P50 || r.GenCPU <= 0 {
			t.Errorf("round %+v", r)
		}
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "what ran out") {
		t.Errorf("table:\n%s", buf.String())
	}

	// A/B: a second Go lb with other flags joins the rotation.
	rep, err = Run(ctx, Config{Executable: bin, Paths: []string{"/healthz"}, Policies: []string{RoundRobin},
		Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond, Repeats: 3, Workers: 4,
		VersusArgs: []string{"--gc-percent", "100"}})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range rep.Rounds {
		order = append(order, r.Proxy)
		if r.Throughput <= 0 || r.Errors != 0 || r.ProxyCPU <= 0 {
			t.Errorf("A/B round %+v", r)
		}
	}
	if got, want := strings.Join(order, ","), "go-lb,haproxy,go-lb-b,haproxy,go-lb-b,go-lb,go-lb-b,go-lb,haproxy"; got != want {
		t.Errorf("A/B rounds %s, want %s", got, want)
	}
}
