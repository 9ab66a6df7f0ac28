package main

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/authlab/authlab/bench/catalog"
)

func TestStrategyList(t *testing.T) {
	if got := strategyList("all"); !slices.Equal(got, catalog.Strategies()) {
		t.Errorf("all = %v", got)
	}
	if got := strategyList(" jwt, none ,"); !slices.Equal(got, []string{"jwt", "none"}) {
		t.Errorf("list = %v", got)
	}
	if got := strategyList("sticky"); !slices.Equal(got, []string{"sticky"}) {
		t.Errorf("one = %v", got)
	}
}

// TestBenchFlagsSingleVersusPaired: the flags of a paired comparison are
// refused for a single run and the reverse, before anything starts.
func TestBenchFlagsSingleVersusPaired(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--strategy", "jwt", "--rounds", "2"}, "--rounds applies to a paired comparison"},
		{[]string{"--strategy", "none,jwt", "--scenario", "failover"}, "--scenario applies to one strategy"},
		{[]string{"--strategy", "none,jwt", "--policy", "sticky"}, "--policy applies to one strategy"},
		{[]string{"--strategy", "none,kerberos"}, `unknown strategy "kerberos"`},
		{[]string{"--strategy", ","}, "no strategy"},
	}
	for _, tc := range tests {
		err := runBench(context.Background(), append(tc.args, "--out", t.TempDir()), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bench %v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestBenchUpstreamLatencyErrors: a negative upstream latency or jitter
// (single or paired run) and upstream latency against a --target are
// refused with a message and exit status 1, before anything starts.
func TestBenchUpstreamLatencyErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"negative latency", []string{"--strategy", "jwt", "--upstream-latency", "-1ms"}, "must be ≥ 0"},
		{"negative jitter, paired", []string{"--strategy", "none,jwt", "--upstream-jitter", "-200us"}, "must be ≥ 0"},
		{"with --target", []string{"--strategy", "jwt", "--target", "http://127.0.0.1:1", "--upstream-latency", "2ms"},
			"--upstream-latency does not apply with --target"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(append([]string{"bench", "--out", t.TempDir()}, tc.args...), io.Discard, &stderr)
			if code == 0 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q: want non-zero and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

func TestBenchListScenarios(t *testing.T) {
	var out bytes.Buffer
	if err := runBench(context.Background(), []string{"--list-scenarios"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(out.String())
	if !slices.Contains(lines, "steady") || !slices.Contains(lines, "failover") {
		t.Errorf("scenarios = %v", lines)
	}
}
