package scenario

import (
	"strconv"
	"strings"
	"testing"

	"github.com/authlab/authlab/bench/report"
)

// TestSearchCapacityStopsAtTheGenerator: a saturated step never passes,
// however good its latency, so the search goes no higher than the
// generator's limit.
func TestSearchCapacityStopsAtTheGenerator(t *testing.T) {
	try := func(rate float64) (report.CapacityStep, error) {
		// The system would pass anything; the generator keeps up to 700.
		return report.CapacityStep{Achieved: rate, P99: 2, Saturated: rate > 700}, nil
	}
	c, err := searchCapacity(200, 50, func() bool { return true }, try)
	if err != nil {
		t.Fatal(err)
	}
	var rates []string
	for _, s := range c.Steps {
		rates = append(rates, strconv.FormatFloat(s.Rate, 'f', -1, 64))
		if s.Saturated && s.Pass {
			t.Errorf("saturated step %v passed", s.Rate)
		}
	}
	if c.MaxRate != 700 || strings.Join(rates, " ") != "200 400 800 600 700" {
		t.Errorf("max %v steps %v, want 700 after 200 400 800 600 700", c.MaxRate, rates)
	}
}

func TestLimitedBy(t *testing.T) {
	pass := report.CapacityStep{Rate: 200, Pass: true, GatewaysCPUPercent: 50}
	tests := []struct {
		name  string
		steps []report.CapacityStep
		side  string
		has   string
	}{
		{"nothing failed", []report.CapacityStep{pass}, "", ""},
		{"generator saturated at the lowest failure", []report.CapacityStep{pass,
			{Rate: 1600, GatewaysCPUPercent: 150, LBCPUPercent: 20},
			{Rate: 800, Saturated: true, GeneratorCPUPercent: 95, GatewaysCPUPercent: 80, LBCPUPercent: 30,
				Load: &report.LoadHealth{Saturated: true, Reason: "generator CPU 95% of a core"}}},
			limitGenerator, "generator CPU 95% of a core; CPU at 800 req/s: generator 95%, gateways 80%, lb 30%"},
		{"gateways busiest", []report.CapacityStep{pass, {Rate: 400, GeneratorCPUPercent: 40, GatewaysCPUPercent: 120, LBCPUPercent: 35}},
			limitGateways, "gateways 120%"},
		{"lb busiest", []report.CapacityStep{pass, {Rate: 400, GatewaysCPUPercent: 60, LBCPUPercent: 90}},
			limitLB, "lb 90%"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			side, reason := limitedBy(tc.steps)
			if side != tc.side || !strings.Contains(reason, tc.has) {
				t.Errorf("limitedBy = %q, %q; want %q containing %q", side, reason, tc.side, tc.has)
			}
		})
	}
}
