package scale

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/redisx/redisserver"
)

func TestValidate(t *testing.T) {
	ok := func() Config {
		return Config{Exe: "/bin/authlab", Strategies: []string{"sticky"}, Sizes: []int{10, 100},
			Probe: ProbeConfig{Rate: 10, Duration: time.Second, Skew: 1.1},
			Storm: StormConfig{Rates: []float64{10, 20}, Step: time.Second, P99: time.Second}}
	}
	for _, tt := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"fine", func(*Config) {}, ""},
		{"no exe", func(c *Config) { c.Exe = "" }, "executable"},
		{"unknown strategy", func(c *Config) { c.Strategies = []string{"kerberos"} }, "unknown strategy"},
		{"no size", func(c *Config) { c.Sizes = nil }, "no size"},
		{"too big", func(c *Config) { c.Sizes = []int{10, MaxSessions + 1} }, "must be 1.."},
		{"descending", func(c *Config) { c.Sizes = []int{100, 10} }, "ascend"},
		{"skew 1", func(c *Config) { c.Probe.Skew = 1 }, "skew"},
		{"probe without duration", func(c *Config) { c.Probe.Duration = 0 }, "probe"},
		{"storm rates descending", func(c *Config) { c.Storm.Rates = []float64{20, 10} }, "ascending"},
		{"storm without bound", func(c *Config) { c.Storm.P99 = 0 }, "positive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil || c.BcryptCost != 4 || c.Logger == nil {
					t.Fatalf("%v (defaults: cost %d)", err, c.BcryptCost)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one about %q", err, tt.want)
			}
		})
	}
}

func fixedResult() *Result {
	f := func(v float64) *float64 { return &v }
	return &Result{
		ID: "20261207-000000", Sizes: []int{1000, 1_000_000}, BcryptCost: 4,
		Probe:   ProbeConfig{Rate: 500, Duration: 5 * time.Second, Skew: 1.1},
		Storm:   StormSettings{Rates: []float64{100, 200}, StepS: 4, P99Ms: 250},
		Minting: "preload: test",
		Strategies: []StrategyResult{
			{Strategy: "sticky", Points: []Point{
				{Sessions: 1000, HeapPerSession: 390, HeapEstimate: f(335), Probe: &Probe{Requests: 2500, Distinct: 400, Achieved: 500, P50Ms: 1.2, P99Ms: 4}},
				{Sessions: 1_000_000, PreloadSeconds: 9.5, HeapPerSession: 350, HeapEstimate: f(343)},
			}, Storm: &Storm{P99Ms: 250, MaxRate: 100, Steps: []StormStep{
				{Rate: 100, Achieved: 100, Logins: 400, P50Ms: 5, P99Ms: 20, Within: true},
				{Rate: 200, Achieved: 150, Logins: 600, Failed: 9, FailedByClass: map[string]int{"503": 7, "timeout": 2}, P50Ms: 90, P99Ms: 900},
			}}},
			{Strategy: "redis-session", Storm: &Storm{P99Ms: 250, MaxRate: 200, Steps: []StormStep{{Rate: 200, Achieved: 200, Logins: 800, Within: true}}}},
			{Strategy: "opaque", Points: []Point{
				{Sessions: 1_000_000, RedisBytes: 300_000_000, RedisPerSession: 262, RedisEstimate: f(261), HeapPerSession: 30,
					Probe: &Probe{Requests: 2500, Distinct: 900, CacheHitRatio: f(0.625)}},
			}},
			{Strategy: "jwt", Error: "start: no Redis", RedisKind: redisserver.KindEmbedded},
		},
	}
}

func TestMarkdown(t *testing.T) {
	md := Markdown(fixedResult(), MemoryChartFile)
	for _, want := range []string{
		"preload path",
		"| sticky | 1,000,000 | 9.5 s | 350 B | 343 B | 1.02 |",
		"| opaque | 1,000,000 | 0.0 s | 30 B | — | — | 262 B | 261 B | 1.00 |",
		"| opaque | 1,000,000 | 900 | 0 | 0.00 | 0.00 | 0 | 62.5 % | 64.0 % |",
		"| sticky | 100 | 100: 100/s, 5.0 ms, 20.0 ms, 0; 200: 150/s, 90.0 ms, 900.0 ms, 9 (503: 7, timeout: 2) ✗ |",
		"| redis-session | ≥ 200 | 200: 200/s",
		"**jwt failed:** start: no Redis",
		"jwt ran on the embedded miniredis fallback",
		"Zipf s=1.10",
		"](scale-memory.png)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestMemoryChart(t *testing.T) {
	path := filepath.Join(t.TempDir(), MemoryChartFile)
	if err := SaveMemoryChart(fixedResult(), path); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() < 1000 {
		t.Fatalf("chart: %v %v", st, err)
	}
	if err := SaveMemoryChart(&Result{Strategies: []StrategyResult{{Strategy: "none"}}}, path); err == nil {
		t.Fatal("a chart without any memory per session was drawn")
	}
}

func TestDrawUsers(t *testing.T) {
	c := &creds{first: 1, tokens: []string{"a", "", "c", "d", ""}, expires: make([]int64, 5)}
	cfg := ProbeConfig{Rate: 100, Duration: time.Second, Skew: 1.1, Seed: 7}
	seq := drawUsers(cfg, c, 5)
	if len(seq) < 110 {
		t.Fatalf("%d draws for 100 requests, want a tenth more", len(seq))
	}
	counts := map[int]int{}
	for _, i := range seq {
		if c.tokens[i] == "" {
			t.Fatalf("drew user index %d, whose preload failed", i)
		}
		counts[i]++
	}
	if counts[0] <= counts[3] {
		t.Errorf("Zipf draws %v: the first user should be the heaviest", counts)
	}
	if again := drawUsers(cfg, c, 5); !slices.Equal(seq, again) {
		t.Error("the same seed drew another sequence")
	}
	if got := drawUsers(cfg, c, 1); got[0] != 0 {
		t.Errorf("one session: drew %d", got[0])
	}
}
