package report

import (
	"fmt"
	"strings"
	"time"
)

// HopSample is one answered request's time as each hop reported it in
// Server-Timing (the lb's lb;dur=, the gateway's gw, authn, assert and
// upstream), with the latency its client saw.
type HopSample struct {
	Client, LB, GW, Authn, Assert, Upstream time.Duration
}

// Hop names, in the order of Hops.Rows: outside in.
const (
	HopClient   = "client"
	HopNetwork  = "network + client"
	HopLB       = "lb"
	HopGateway  = "gateway"
	HopAuthn    = "authn"
	HopAssert   = "assert"
	HopUpstream = "upstream"
)

// Hops is where the time of a scenario's answered requests went, hop by
// hop, from the Server-Timing the lb and the gateway sent. Each row's
// figures are over its per-request values; the means add up (every row
// but client sums to client), the percentiles do not.
type Hops struct {
	// Requests is the number of answered requests that carried both the
	// lb's and the gateway's timings; Missing the answered ones that did
	// not (an lb or a gateway that sends none).
	Requests int      `json:"requests"`
	Missing  int      `json:"missing,omitempty"`
	Rows     []HopRow `json:"rows"`
}

// HopRow is one hop's share of the requests' time.
type HopRow struct {
	Hop string `json:"hop"`
	// What the hop's figure is, in terms of the Server-Timing entries.
	What   string  `json:"what"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MeanMs float64 `json:"mean_ms"`
	// SharePct is the row's mean as a percentage of the client's mean.
	SharePct float64 `json:"share_pct"`
}

// hopDefs are the rows: name, meaning, and the per-request value.
var hopDefs = [...]struct {
	hop, what string
	of        func(HopSample) time.Duration
}{
	{HopClient, "latency the client saw from the actual send (the latency table counts from the intended send)", func(s HopSample) time.Duration { return s.Client }},
	{HopNetwork, "client − lb: sockets, the client's own time", func(s HopSample) time.Duration { return s.Client - s.LB }},
	{HopLB, "lb − gw: the lb's own overhead and its hop to the gateway", func(s HopSample) time.Duration { return s.LB - s.GW }},
	{HopGateway, "gw − authn − assert − upstream: routing, CSRF, header handling", func(s HopSample) time.Duration {
		return s.GW - s.Authn - s.Assert - s.Upstream
	}},
	{HopAuthn, "the strategy's Authenticate (memory, Redis or the token)", func(s HopSample) time.Duration { return s.Authn }},
	{HopAssert, "signing (or reusing) the identity assertion", func(s HopSample) time.Duration { return s.Assert }},
	{HopUpstream, "the gateway's round trip to the backend", func(s HopSample) time.Duration { return s.Upstream }},
}

// NewHops summarises samples (nil when there are none): per hop the
// median, p99 and mean of its per-request values. missing counts the
// answered requests without timings.
func NewHops(samples []HopSample, missing int) *Hops {
	if len(samples) == 0 {
		return nil
	}
	h := &Hops{Requests: len(samples), Missing: missing, Rows: make([]HopRow, len(hopDefs))}
	vals := make([]time.Duration, len(samples))
	var clientMean float64
	for i, d := range hopDefs {
		for j, s := range samples {
			vals[j] = d.of(s)
		}
		p := Summarize(vals)
		h.Rows[i] = HopRow{Hop: d.hop, What: d.what, P50Ms: p.P50, P99Ms: p.P99, MeanMs: p.Mean}
		if i == 0 {
			clientMean = p.Mean
		}
		if clientMean > 0 {
			h.Rows[i].SharePct = Round3(100 * p.Mean / clientMean)
		}
	}
	return h
}

// Row returns the row of hop, or false.
func (h *Hops) Row(hop string) (HopRow, bool) {
	if h != nil {
		for _, r := range h.Rows {
			if r.Hop == hop {
				return r, true
			}
		}
	}
	return HopRow{}, false
}

// renderHops writes a scenario's "Where the time goes" table.
func renderHops(b *strings.Builder, s *Scenario) {
	h := s.Hops
	if h == nil {
		return
	}
	fmt.Fprintf(b, "**Where the time goes** (%s, from the Server-Timing of %d answered requests", s.Name, h.Requests)
	if h.Missing > 0 {
		fmt.Fprintf(b, "; %d answered without it", h.Missing)
	}
	b.WriteString("; the means add up to the client's, the percentiles do not):\n\n")
	b.WriteString("| hop | p50 ms | p99 ms | mean ms | share of mean | what |\n|---|---|---|---|---|---|\n")
	for _, r := range h.Rows {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s%% | %s |\n", r.Hop, num(r.P50Ms), num(r.P99Ms), num(r.MeanMs), num(r.SharePct), r.What)
	}
	b.WriteString("\n")
}
