package report

import (
	"strings"
	"testing"
	"time"
)

func TestNewHopsArithmetic(t *testing.T) {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	// Two requests with known splits: the second is twice the first.
	samples := []HopSample{
		{Client: ms(2), LB: ms(1.5), GW: ms(1.2), Authn: ms(0.3), Assert: ms(0.1), Upstream: ms(0.6)},
		{Client: ms(4), LB: ms(3), GW: ms(2.4), Authn: ms(0.6), Assert: ms(0.2), Upstream: ms(1.2)},
	}
	h := NewHops(samples, 3)
	if h.Requests != 2 || h.Missing != 3 {
		t.Fatalf("requests %d missing %d", h.Requests, h.Missing)
	}
	want := map[string][3]float64{ // p50, p99, mean
		HopClient:   {2, 4, 3},
		HopNetwork:  {0.5, 1, 0.75},
		HopLB:       {0.3, 0.6, 0.45},
		HopGateway:  {0.2, 0.4, 0.3},
		HopAuthn:    {0.3, 0.6, 0.45},
		HopAssert:   {0.1, 0.2, 0.15},
		HopUpstream: {0.6, 1.2, 0.9},
	}
	var shares float64
	for hop, w := range want {
		r, ok := h.Row(hop)
		if !ok {
			t.Fatalf("no row %s", hop)
		}
		if r.P50Ms != w[0] || r.P99Ms != w[1] || r.MeanMs != w[2] {
			t.Errorf("%s: p50 %v p99 %v mean %v, want %v", hop, r.P50Ms, r.P99Ms, r.MeanMs, w)
		}
		if hop != HopClient {
			shares += r.SharePct
		}
	}
	if shares < 99.9 || shares > 100.1 {
		t.Errorf("shares below the client add up to %v%%, want 100", shares)
	}
	if h.Rows[0].Hop != HopClient || h.Rows[len(h.Rows)-1].Hop != HopUpstream {
		t.Errorf("rows not outside in: %+v", h.Rows)
	}
}

func TestNewHopsEmpty(t *testing.T) {
	if h := NewHops(nil, 5); h != nil {
		t.Errorf("NewHops(nil) = %+v, want nil", h)
	}
	var b strings.Builder
	renderHops(&b, &Scenario{Name: "steady"})
	if b.Len() != 0 {
		t.Errorf("rendered %q for no hops", b.String())
	}
}

func TestRenderHops(t *testing.T) {
	s := &Scenario{Name: "steady", Hops: NewHops([]HopSample{{Client: 2 * time.Millisecond, LB: time.Millisecond, GW: time.Millisecond}}, 0)}
	var b strings.Builder
	renderHops(&b, s)
	for _, want := range []string{"Where the time goes", "| network + client | 1 | 1 | 1 | 50% |", "| upstream |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in:\n%s", want, b.String())
		}
	}
}
