package lbbench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
	rounds := []Round{
		{Proxy: GoLB, Path: "/x", Round: 1, Throughput: 900, P50: 2 * time.Millisecond, P99: 12 * time.Millisecond, ProxyCPU: 0.5},
		{Proxy: HAProxy, Path: "/x", Round: 1, Throughput: 1000, P50: 2 * time.Millisecond, P99: 10 * time.Millisecond, ProxyCPU: 0.25},
		{Proxy: GoLB, Path: "/x", Round: 2, Throughput: 700, P50: 4 * time.Millisecond, P99: 30 * time.Millisecond, ProxyCPU: 0.5, Errors: 1},
		{Proxy: HAProxy, Path: "/x", Round: 2, Throughput: 1000, P50: 2 * time.Millisecond, P99: 10 * time.Millisecond, ProxyCPU: 0.25},
		{Proxy: GoLB, Path: "/x", Round: 3, Throughput: 950, P50: 3 * time.Millisecond, P99: 11 * time.Millisecond, ProxyCPU: 0.5},
		{Proxy: HAProxy, Path: "/x", Round: 3, Throughput: 1000, P50: 2 * time.Millisecond, P99: 10 * time.Millisecond, ProxyCPU: 0.25},
	}
	sum := summarize(rounds, []string{"/x"})
	if len(sum) != 2 {
		t.Fatalf("summaries %+v", sum)
	}
	g := sum[0]
	if g.Proxy != GoLB || g.Throughput != 900 || g.P50 != 3*time.Millisecond || g.P99 != 12*time.Millisecond || g.Errors != 1 {
		t.Errorf("go summary %+v, want medians 900 req/s, p50 3ms, p99 12ms, 1 error", g)
	}
	rep := &Report{Config: Config{Paths: []string{"/x"}, Instances: 3, Workers: 8, Repeats: 3}, Rounds: rounds, Summaries: sum}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	// Throughput 900/1000, p99 12/10.
	for _, want := range []string{"0.90", "1.20", "medians:"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestHAProxyConfig(t *testing.T) {
	cfg := HAProxyConfig("127.0.0.1:9000", []string{"127.0.0.1:1", "127.0.0.1:2"})
	for _, want := range []string{
		"bind 127.0.0.1:9000",
		"cookie SERVERID insert indirect nocache",
		"balance roundrobin",
		"server gw1 127.0.0.1:1 cookie gw1 check",
		"server gw2 127.0.0.1:2 cookie gw2 check",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
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
	if len(rep.Rounds) != 4 || rep.Rounds[0].Proxy != GoLB || rep.Rounds[2].Proxy != HAProxy {
		t.Fatalf("rounds %+v, want 4 alternating (go first, then haproxy first)", rep.Rounds)
	}
	for _, r := range rep.Rounds {
		if r.Throughput <= 0 || r.Errors != 0 || r.P99 < r.P50 {
			t.Errorf("round %+v", r)
		}
	}
}
