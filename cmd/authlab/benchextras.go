package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/authlab/authlab/bench"
	"github.com/authlab/authlab/bench/scenario"
)

// benchExtras are bench's flags for the honest-load and marginal-cost
// measurements: the measurement floor, the micro-benchmark and the cost
// scenario's rates and window.
type benchExtras struct {
	floor, micro bool
	costRates    []float64
	costWindow   time.Duration
	skew         float64
	seed         uint64
	batch        string
	logoutShare  float64
	refreshAhead time.Duration
}

// registerBenchExtras defines the flags on fs; apply copies their values
// into a bench.Config once fs is parsed.
func registerBenchExtras(fs *flag.FlagSet) *benchExtras {
	e := &benchExtras{}
	fs.BoolVar(&e.floor, "floor", true, "first measure the same load (min(duration, 10s)) against a bare echo server on loopback: the floor overheads are read above")
	fs.BoolVar(&e.micro, "micro", true, "after the scenarios, run the Go micro-benchmark of the strategy's Authenticate in process")
	fs.Func("cost-rates", "cost scenario: comma-separated increasing rates, at least two (default: --rate and 2×--rate)", func(v string) error {
		rates, err := parseRates(v)
		e.costRates = rates
		return err
	})
	fs.DurationVar(&e.costWindow, "cost-window", 0, "cost scenario: length of the idle window and of each load window (default min(--duration, 10s))")
	fs.Float64Var(&e.skew, "user-skew", 0, "0: every user's requests in turn (equal shares); > 1: users drawn from a Zipf distribution with this exponent (user0001 the heaviest; e.g. 1.2), the skew reported per scenario")
	fs.Uint64Var(&e.seed, "seed", 1, "seed of the --user-skew draw (same seed, same sequence of users)")
	fs.Float64Var(&e.logoutShare, "mixed-logout-share", scenario.DefaultMixedLogoutShare, fmt.Sprintf("mixed scenario: share of requests that are a logout-then-login cycle of the drawn user (at most %v; negative: none)", scenario.MaxMixedLogoutShare))
	fs.DurationVar(&e.refreshAhead, "refresh-ahead", scenario.DefaultMixedRefreshAhead, "mixed scenario, strategies with refresh tokens (jwt): a user refreshes its access token (POST /auth/refresh) when it has this long left, or half its lifetime when shorter; the jwt access TTL is --gateway-args \"--access-ttl D\" (default 5m: a shorter run sees no refresh)")
	fs.StringVar(&e.batch, "batch", "", "a name grouping runs that are rounds of one measurement (make bench-all sets it): compare reports the median and range over the runs of a strategy's latest batch")
	return e
}

// apply copies the parsed flags into cfg.
func (e *benchExtras) apply(cfg *bench.Config) {
	cfg.Floor, cfg.Micro, cfg.CostRates, cfg.CostWindow = e.floor, e.micro, e.costRates, e.costWindow
	cfg.UserSkew, cfg.Seed, cfg.Batch = e.skew, e.seed, e.batch
	cfg.MixedLogoutShare, cfg.MixedRefreshAhead = e.logoutShare, e.refreshAhead
	if e.logoutShare == 0 {
		cfg.MixedLogoutShare = -1 // 0 given: none (0 in the config is the default)
	}
}

// parseRates parses a comma-separated list of positive rates.
func parseRates(v string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("rate %q: want a positive number", f)
		}
		out = append(out, r)
	}
	return out, nil
}
