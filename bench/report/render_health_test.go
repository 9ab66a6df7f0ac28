package report

import (
	"bytes"
	"strings"
	"testing"
)

// healthFixture is fixture with everything item 3 and 4 of the harness
// add: load health, the floor, the cost scenario, the micro-benchmark and
// the heap per session.
func healthFixture() *Report {
	r := fixture("sticky", 4.5, 100, 10)
	r.Floor = &Floor{Rate: 100, Latency: Percentiles{Count: 900, P50: 0.4, P99: 1.1},
		Load: &LoadHealth{RequestedRate: 100, AchievedRate: 100, SendLagP99Ms: 0.2, GeneratorCPUPercent: 4}}
	r.Micro = &Micro{NsPerOp: 412.5, AllocsPerOp: 3, BytesPerOp: 96, N: 2900000}
	r.Memory.GatewayHeapPerSessionBytes = Float(612)
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		switch {
		case s.Name == "steady":
			s.Load = &LoadHealth{RequestedRate: 100, AchievedRate: 99.9, SendLagP99Ms: 0.3, GeneratorCPUPercent: 6}
		case s.Name == "failover":
			s.Load = &LoadHealth{RequestedRate: 100, AchievedRate: 80, SendLagP99Ms: 40, GeneratorCPUPercent: 95,
				Saturated: true, Reason: "achieved 80 of 100 req/s (< 95%)"}
		case s.Capacity != nil:
			c := s.Capacity
			c.Steps[2].Saturated, c.Steps[2].Pass = true, false
			c.Steps[2].Load = &LoadHealth{RequestedRate: 800, AchievedRate: 700, Saturated: true, Reason: "send lag p99 30 ms > 10 ms"}
			c.Steps[2].GeneratorCPUPercent, c.Steps[2].GatewaysCPUPercent, c.Steps[2].LBCPUPercent = 97, 120, 40
			c.LimitedBy, c.LimitReason = "generator", "send lag p99 30 ms > 10 ms; CPU at 800 req/s: generator 97%"
		}
	}
	r.Scenarios = append(r.Scenarios, Scenario{Name: "cost", Cost: &Cost{
		IdleCPUPercent: 1.5, MarginalUsPerRequest: Float(61.25),
		Points: []CostStep{
			{Rate: 100, Requests: 1000, WindowS: 10, CPUSeconds: 0.25, IdleCPUSeconds: 0.15, NetUsPerRequest: 100,
				Load: &LoadHealth{RequestedRate: 100, AchievedRate: 100}},
			{Rate: 400, Requests: 4000, WindowS: 10, CPUSeconds: 0.4338, IdleCPUSeconds: 0.15, NetUsPerRequest: 70.95,
				Load: &LoadHealth{RequestedRate: 400, AchievedRate: 370, Saturated: true, Reason: "achieved 370 of 400 req/s (< 95%)"}},
		}}})
	return r
}

func TestRenderLoadHealthFloorCostMicro(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderMarkdown(&buf, healthFixture()); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		// the floor, and steady read above it
		"**Measurement floor** (the same load, 100 req/s, against a bare echo server",
		"p50 0.400 ms, p99 1.10 ms",
		"Steady above the floor: p50 1.20 → **+0.800 ms**",
		// memory: heap per session is the headline, RSS noisy
		"gateways' live heap after GC **612 bytes**",
		// load health per phase
		"## Load generator",
		"| floor (echo server) | 100 | 100 | 0.200 | 4 | yes |",
		"| steady | 100 | 99.90 | 0.300 | 6 | yes |",
		"| failover | 100 | 80 | 40 | 95 | ⚠ **saturated**: achieved 80 of 100 req/s (< 95%) |",
		"| capacity @ 800 req/s |",
		"| cost @ 400 req/s | 400 | 370 |",
		"Load generator: send lag p99 40 ms, 95% of a core — **saturated**",
		// capacity stops at the generator
		"The side that ran out: **generator**",
		"| 800 | 700 | 80 | 2% | 97 | 120 | 40 | saturated (the generator's limit, not the system's latency) |",
		// cost and micro
		"## Marginal cost",
		"**61.25 µs of gateway CPU per extra request**",
		"| 100 | 1000 | 10 | 0.250 | 0.150 | 100 | yes |",
		"| 400 | 4000 | 10 | 0.434 | 0.150 | 70.95 | ⚠ no: achieved 370 of 400 req/s (< 95%) |",
		"marginal gateway CPU 61.25 µs/request; idle 1.50% of a core",
		"**412.5 ns/op**, 3 allocs/op, 96 B/op",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if strings.Index(md, "## Load generator") > strings.Index(md, "## Marginal cost") {
		t.Error("load health should come before the costs")
	}
}

// TestRenderWithoutTheNewMeasures: a report without floor, micro or heap
// (an older one, or --floor=false) says so instead of printing zeros.
func TestRenderWithoutTheNewMeasures(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderMarkdown(&buf, fixture("jwt", 4.5, 100, 0)); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{"Measurement floor: not measured", "gateways' live heap not measured"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	for _, not := range []string{"## Load generator", "## Marginal cost"} {
		if strings.Contains(md, not) {
			t.Errorf("report.md has %q with nothing to show", not)
		}
	}
}

func TestPrintSummaryHealth(t *testing.T) {
	var buf bytes.Buffer
	PrintSummary(&buf, healthFixture())
	out := buf.String()
	for _, want := range []string{"floor p50 0.400 ms p99 1.100 ms", "saturated", "failover", "612 B/session", "412.5 ns/op", "61.25 µs/request"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n > 16 {
		t.Errorf("summary is %d lines; keep it short", n)
	}
}
