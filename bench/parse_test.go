package bench

import (
	"maps"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/report"
)

func TestParseStatCPU(t *testing.T) {
	// comm with spaces and parentheses; utime=250, stime=50 ticks.
	stat := "1234 (auth lab (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0"
	got, err := parseStatCPU(stat)
	if err != nil || got != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{"", "1234 no-paren", "1 (x) S 1 2"} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
}

func TestStatusKB(t *testing.T) {
	st := "Name:\tauthlab\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n"
	if got := statusKB(st, "VmHWM"); got != 20480*1024 {
		t.Errorf("VmHWM = %d", got)
	}
	if got := statusKB(st, "VmSwap"); got != 0 {
		t.Errorf("missing key = %d", got)
	}
}

func TestReadProcSelf(t *testing.T) {
	p, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.RSSBytes <= 0 || p.HWMBytes < p.RSSBytes {
		t.Errorf("ReadProc(self) = %+v", p)
	}
	if _, err := ReadProc(-1); err == nil {
		t.Error("ReadProc(-1) succeeded")
	}
}

func TestCommandStats(t *testing.T) {
	before := parseCommandStats("# Commandstats\r\ncmdstat_get:calls=10,usec=30,usec_per_call=3.00\r\ncmdstat_info:calls=2,usec=1\r\n")
	after := parseCommandStats("# Commandstats\r\ncmdstat_get:calls=110,usec=300\r\ncmdstat_set:calls=5,usec=3\r\n" +
		"cmdstat_info:calls=9,usec=1\r\ncmdstat_hello:calls=3,usec=1\r\ncmdstat_client|setinfo:calls=6,usec=1\r\ncmdstat_bad\r\n")
	if after["get"] != 110 || after["client|setinfo"] != 6 {
		t.Fatalf("parse = %v", after)
	}
	delta, total := commandDelta(before, after)
	if want := map[string]int64{"get": 100, "set": 5}; !maps.Equal(delta, want) || total != 105 {
		t.Errorf("delta = %v (%d), want %v (105)", delta, total, want)
	}
}

func TestInfoFieldAndCPUModel(t *testing.T) {
	if v := infoField("# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n", "redis_version"); v != "7.0.15" {
		t.Errorf("infoField = %q", v)
	}
	if m := cpuModel(strings.NewReader("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n")); m != "AMD EPYC 7B13" {
		t.Errorf("cpuModel = %q", m)
	}
	if m := cpuModel(strings.NewReader("processor\t: 0\n")); m != "unknown" {
		t.Errorf("cpuModel without model = %q", m)
	}
}

func TestRunConfigValidate(t *testing.T) {
	ok := RunConfig{Strategy: "sticky", Rate: 10, Duration: time.Second, Users: 5, Instances: 2, Exe: "/bin/true",
		Scenarios: []string{"revocation", "steady"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if ok.Policy != "sticky" || strings.Join(ok.Scenarios, ",") != "steady,revocation" || ok.RevocationSample != 1 {
		t.Errorf("defaults: policy %s scenarios %v sample %d", ok.Policy, ok.Scenarios, ok.RevocationSample)
	}
	j := RunConfig{Strategy: "jwt", Rate: 10, Duration: time.Second, Users: 5, Instances: 2, Exe: "/bin/true"}
	if err := j.Validate(); err != nil || j.Policy != "round-robin" || strings.Join(j.Scenarios, ",") != "steady,failover,revocation" {
		t.Errorf("jwt defaults: %v %s %v", err, j.Policy, j.Scenarios)
	}
	bad := []func(*RunConfig){
		func(c *RunConfig) { c.Strategy = "kerberos" },
		func(c *RunConfig) { c.Scenarios = []string{"chaos"} },
		func(c *RunConfig) { c.Rate = 0 },
		func(c *RunConfig) { c.Duration = 10 * time.Millisecond },
		func(c *RunConfig) { c.Users = 0 },
		func(c *RunConfig) { c.Instances = 0 },
		func(c *RunConfig) { c.Policy = "random" },
		func(c *RunConfig) { c.Exe = "" },
	}
	for i, mutate := range bad {
		c := RunConfig{Strategy: "jwt", Rate: 10, Duration: time.Second, Users: 5, Instances: 2, Exe: "/bin/true"}
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d: Validate accepted %+v", i, c)
		}
	}
}

func TestSearchCapacity(t *testing.T) {
	limit := func(max float64) func(float64) (report.CapacityStep, error) {
		return func(rate float64) (report.CapacityStep, error) {
			if rate <= max {
				return report.CapacityStep{Achieved: rate, P99: 5}, nil
			}
			return report.CapacityStep{Achieved: rate * 0.9, P99: 500, ErrorRate: 0.2}, nil
		}
	}
	always := func() bool { return true }
	tests := []struct {
		name       string
		start, max float64
		wantMax    float64
		wantRates  string
	}{
		{"doubles then bisects to within 15%", 200, 1000, 1000, "200 400 800 1600 1200 1000 1100"},
		{"halves when the start fails, then bisects", 200, 60, 57, "200 100 50 75 63 57"},
		{"nothing passes", 2, 0.1, 0, "2 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := searchCapacity(tc.start, 50, always, limit(tc.max))
			if err != nil {
				t.Fatal(err)
			}
			var rates []string
			for _, s := range c.Steps {
				rates = append(rates, strconv.FormatFloat(s.Rate, 'f', -1, 64))
			}
			if c.MaxRate != tc.wantMax || strings.Join(rates, " ") != tc.wantRates {
				t.Errorf("max %v steps %v, want %v steps %s", c.MaxRate, rates, tc.wantMax, tc.wantRates)
			}
		})
	}
	n := 0
	c, _ := searchCapacity(100, 50, func() bool { n++; return n <= 2 }, limit(1e9))
	if len(c.Steps) != 2 {
		t.Errorf("budget not respected: %d steps", len(c.Steps))
	}
}
