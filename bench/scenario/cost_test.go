package scenario

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/lb"
)

// TestCostArithmetic: the idle CPU over each window is subtracted before
// dividing by the requests, and the marginal cost is the slope between the
// lowest and the highest rate.
func TestCostArithmetic(t *testing.T) {
	tests := []struct {
		name      string
		rate      float64
		requests  int
		cpu       time.Duration
		idleRate  float64 // CPU s per s
		wall      time.Duration
		idleCPU   float64
		netUs     float64
		windowS   float64
		cpuSecond float64
	}{
		// 10 s at 100 req/s: 1.5 s CPU, 0.5 s of it idle → 1 s / 1000 = 1000 µs.
		{"idle subtracted", 100, 1000, 1500 * time.Millisecond, 0.05, 10 * time.Second, 0.5, 1000, 10, 1.5},
		{"no idle", 100, 1000, time.Second, 0, 10 * time.Second, 0, 1000, 10, 1},
		// The window ran 10.5 s (the last answers): idle over 10.5 s.
		{"idle over the real window", 400, 4000, 2525 * time.Millisecond, 0.05, 10500 * time.Millisecond, 0.525, 500, 10.5, 2.525},
		{"no requests", 100, 0, time.Second, 0.05, 10 * time.Second, 0.5, 0, 10, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := costPoint(tc.rate, tc.requests, tc.cpu, tc.idleRate, tc.wall)
			if p.Rate != tc.rate || p.Requests != tc.requests || p.IdleCPUSeconds != tc.idleCPU ||
				p.NetUsPerRequest != tc.netUs || p.WindowS != tc.windowS || p.CPUSeconds != tc.cpuSecond {
				t.Errorf("costPoint = %+v, want idle %v s, net %v µs/request", p, tc.idleCPU, tc.netUs)
			}
		})
	}
	slopes := []struct {
		name   string
		points []report.CostStep
		want   *float64
	}{
		// net 1.0 s for 1000 requests, net 2.5 s for 4000: 1.5 s / 3000 = 500 µs
		// per extra request, although each point's own average is 1000 and 625.
		{"slope", []report.CostStep{
			{Requests: 1000, CPUSeconds: 1.5, IdleCPUSeconds: 0.5},
			{Requests: 4000, CPUSeconds: 3.0, IdleCPUSeconds: 0.5},
		}, report.Float(500)},
		{"first and last of three", []report.CostStep{
			{Requests: 1000, CPUSeconds: 1.5, IdleCPUSeconds: 0.5},
			{Requests: 2000, CPUSeconds: 9, IdleCPUSeconds: 0.5},
			{Requests: 3000, CPUSeconds: 2.5, IdleCPUSeconds: 0.5},
		}, report.Float(500)},
		{"one point", []report.CostStep{{Requests: 1000, CPUSeconds: 1}}, nil},
		{"as many requests", []report.CostStep{{Requests: 1000, CPUSeconds: 1}, {Requests: 1000, CPUSeconds: 2}}, nil},
	}
	for _, tc := range slopes {
		got := marginalUs(tc.points)
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%s: marginalUs = %v, want %v", tc.name, deref(got), deref(tc.want))
		}
	}
}

func TestCostConfig(t *testing.T) {
	c := Config{Strategy: "jwt", Rate: 150, Duration: 30 * time.Second, Users: 5}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.CostWindow != 10*time.Second || len(c.CostRates) != 2 || c.CostRates[0] != 150 || c.CostRates[1] != 300 {
		t.Errorf("defaults: window %s rates %v, want 10s and [150 300]", c.CostWindow, c.CostRates)
	}
	short := Config{Strategy: "jwt", Rate: 150, Duration: 3 * time.Second, Users: 5}
	if err := short.Validate(); err != nil || short.CostWindow != 3*time.Second {
		t.Errorf("short run: window %s, %v", short.CostWindow, err)
	}
	for _, rates := range [][]float64{{100}, {100, 100}, {400, 100}, {0, 100}, {100, MaxRate + 1}} {
		c := Config{Strategy: "jwt", Rate: 150, Duration: time.Second, Users: 5, CostRates: rates}
		if err := c.Validate(); err == nil {
			t.Errorf("cost rates %v accepted", rates)
		}
	}
}

// pidGateways lists the test process as every gateway, so the cost
// scenario has a process to read.
type pidGateways struct{ *fakeGateways }

func (g pidGateways) Instances(ctx context.Context) ([]lb.InstanceInfo, error) {
	insts, err := g.fakeGateways.Instances(ctx)
	for i := range insts[:1] {
		insts[i].PID = os.Getpid()
	}
	return insts, err
}

// TestCostScenario runs the scenario against the in-process cluster (the
// "gateway" is the test process itself, so the figures are not a
// gateway's): an idle window, two load windows, every point filled.
func TestCostScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three 1 s windows")
	}
	env, g := newEnv(t, 2, 10, false)
	env.Gateways = pidGateways{g}
	env.Config.CostRates, env.Config.CostWindow = []float64{50, 100}, time.Second
	results, err := RunAll(context.Background(), env, []Scenario{Cost{}})
	if err != nil {
		t.Fatal(err)
	}
	c := results[0].Cost
	if results[0].Name != CostName || c == nil || len(c.Points) != 2 {
		t.Fatalf("result %+v", results[0])
	}
	for i, p := range c.Points {
		if p.Rate != env.Config.CostRates[i] || p.Requests < 25 || p.Load == nil || p.WindowS < 1 || p.CPUSeconds < p.IdleCPUSeconds-0.05 {
			t.Errorf("point %d: %+v", i, p)
		}
	}
	if c.Points[1].Requests <= c.Points[0].Requests {
		t.Errorf("requests %d at 100 req/s, %d at 50", c.Points[1].Requests, c.Points[0].Requests)
	}
	if results[0].Load == nil {
		t.Error("no load health")
	}
}
