// Package sweep runs one strategy at several settings of a trade-off and
// draws the frontier a team picks a point on. The first sweep is the
// opaque token cache: its TTL × pub/sub invalidation against revocation lag
// (how long a logged-out token still works on other instances) and the
// Redis commands per request and p50 latency the cache saves.
//
// Each point is a full `authlab bench` run (fresh topology, steady and
// revocation scenarios) written under <out>/sweeps/<id>/runs/; the sweep
// writes sweep.json, sweep.md and sweep-frontier.png beside them. compare
// does not read sweep runs (their settings are not the strategy's
// defaults).
package sweep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authlab/authlab/bench"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/bench/scenario"
)

// Dir is the directory under the results root that holds sweeps.
const Dir = "sweeps"

// Sweep kinds: which trade-off a point belongs to. A sweep may hold
// several; sweep.md has a section (table and chart) for each.
const (
	// KindCache is the opaque cache: TTL × pub/sub invalidation.
	KindCache = "cache"
	// KindDenylist is jwt with the denylist off and on.
	KindDenylist = "denylist"
	// KindAlg is jwt signed with HS256 against EdDSA.
	KindAlg = "alg"
	// KindAccessTTL is jwt at several access-token lifetimes, on a scaled
	// clock.
	KindAccessTTL = "access-ttl"
)

// Point is one setting of the sweep: extra gateway flags and a label.
type Point struct {
	Label string `json:"label"`
	// Kind is the sweep the point belongs to (KindCache when empty).
	Kind string `json:"kind,omitempty"`
	// Round numbers the repetitions of one setting (1, 2, …; 0 when the
	// setting runs once).
	Round       int      `json:"round,omitempty"`
	GatewayArgs []string `json:"gateway_args"`
	// Scenarios the point runs (default steady, then revocation).
	Scenarios []string `json:"scenarios,omitempty"`
	// Micro runs the micro-benchmark of Authenticate after the scenarios.
	Micro bool `json:"micro,omitempty"`
	// RevocationTimeout bounds the revocation polling at this point (a
	// cache TTL of 30 s needs more than 10 s to show its lag).
	RevocationTimeout time.Duration `json:"-"`
	// RevocationSpread, when > 0, logs the sampled users out at spread
	// token ages (bench.Config.RevocationSpread).
	RevocationSpread time.Duration `json:"-"`
	// Duration, when > 0, is this point's steady phase instead of the
	// sweep's.
	Duration time.Duration `json:"-"`
	// AccessTTLS is the access-token lifetime run (jwt), seconds; 0 when
	// the point leaves it at the strategy's default.
	AccessTTLS float64 `json:"access_ttl_s,omitempty"`
	// TimeScale, when > 0, says the point ran on a scaled clock: its
	// lifetimes stand for TimeScale times as long (KindAccessTTL).
	TimeScale float64 `json:"time_scale,omitempty"`
	// RefreshAheadS, when > 0, is how long before its access token expires
	// a user refreshes it (as run; load.Config.RefreshAhead).
	RefreshAheadS float64 `json:"refresh_ahead_s,omitempty"`
}

// OpaqueCache is the opaque cache sweep: every TTL in ttls, with pub/sub
// invalidation off and on.
func OpaqueCache(ttls []time.Duration) []Point {
	var ps []Point
	for _, pubsub := range []bool{false, true} {
		for _, ttl := range ttls {
			label := "ttl " + ttl.String()
			args := []string{"--opaque-cache-ttl", ttl.String()}
			if pubsub {
				label += " + pub/sub"
				args = append(args, "--opaque-pubsub")
			}
			ps = append(ps, Point{Label: label, Kind: KindCache, GatewayArgs: args, RevocationTimeout: ttl + 5*time.Second})
		}
	}
	return ps
}

// Result is one point measured.
type Result struct {
	Point
	// Run is the point's report directory, relative to the sweep's.
	Run       string  `json:"run"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	Saturated bool    `json:"saturated"`
	// RedisCommandsPerRequest is nil when Redis was not measured.
	RedisCommandsPerRequest *float64 `json:"redis_commands_per_request"`
	// RevocationP99Ms is nil when no logged-out credential was rejected
	// within the timeout; NotRevoked of Pairs still accepted it then.
	RevocationP99Ms *float64 `json:"revocation_lag_p99_ms"`
	RevocationP50Ms *float64 `json:"revocation_lag_p50_ms,omitempty"`
	NotRevoked      int      `json:"not_revoked"`
	Pairs           int      `json:"pairs"`
	TimeoutS        float64  `json:"timeout_s"`
	// Steady's requests, their credential bytes, the gateways' CPU per
	// request (all of it over the phase, divided by its requests), and
	// the sessions lost (401s) and re-logins during it.
	Requests               int     `json:"requests"`
	DurationS              float64 `json:"duration_s"`
	CredentialBytes        float64 `json:"credential_bytes_per_request"`
	GatewayCPUUsPerRequest float64 `json:"gateway_cpu_us_per_request"`
	SessionsLost           int     `json:"sessions_lost"`
	Relogins               int     `json:"relogins"`
	// LoadAvg is the machine's 1-minute load average when the point
	// started (nil where /proc/loadavg is not readable): on a shared
	// machine, how much else was running.
	LoadAvg *float64 `json:"load_avg_1m,omitempty"`
	// Sampled is the number of users the revocation scenario logged out.
	Sampled int `json:"sampled,omitempty"`
	// Users and Rate are the run's: each user sends a request every
	// Users/Rate seconds (round robin).
	Users int     `json:"users"`
	Rate  float64 `json:"rate"`
	// Refreshes ahead of expiry during steady (and those that failed), and
	// the mean and median time between two refreshes of one user, ms (nil
	// when no user refreshed twice).
	Refreshes             int      `json:"refreshes,omitempty"`
	RefreshFailures       int      `json:"refresh_failures,omitempty"`
	RefreshIntervalMeanMs *float64 `json:"refresh_interval_mean_ms,omitempty"`
	RefreshIntervalP50Ms  *float64 `json:"refresh_interval_p50_ms,omitempty"`
	// MicroNsPerOp and MicroAllocsPerOp are the in-process micro-benchmark
	// of Authenticate (nil when not run).
	MicroNsPerOp     *float64 `json:"micro_ns_per_op,omitempty"`
	MicroAllocsPerOp *int64   `json:"micro_allocs_per_op,omitempty"`
}

// Sweep is a finished sweep (sweep.json).
type Sweep struct {
	ID string `json:"id"`
	// Kinds are the sweeps run, in order (KindCache, KindDenylist, …).
	Kinds    []string           `json:"kinds,omitempty"`
	Strategy string             `json:"strategy"`
	Started  time.Time          `json:"started_at"`
	Settings report.Settings    `json:"settings"`
	Env      report.Environment `json:"environment"`
	Points   []Result           `json:"points"`
}

// Config is a sweep: the run every point shares, and the points.
type Config struct {
	// Base is every point's bench configuration (its GatewayArgs are
	// kept, the point's appended; Scenarios and OutDir are the sweep's).
	Base   bench.Config
	Points []Point
	// Progress receives a line per point (nil: nothing).
	Progress io.Writer
}

// Run measures every point in turn and writes the sweep into
// <Base.OutDir>/sweeps/<id>/. It returns the sweep and its directory.
func Run(ctx context.Context, cfg Config) (*Sweep, string, error) {
	if len(cfg.Points) == 0 {
		return nil, "", errors.New("sweep: no point")
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	started := time.Now().UTC()
	id := started.Format("20060102-150405")
	dir := filepath.Join(cfg.Base.OutDir, Dir, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("sweep: %w", err)
	}
	sw := &Sweep{ID: id, Strategy: cfg.Base.Strategy, Started: started, Kinds: kindsOf(cfg.Points)}
	for i, p := range cfg.Points {
		fmt.Fprintf(cfg.Progress, "sweep %s: point %d of %d: %s\n", cfg.Base.Strategy, i+1, len(cfg.Points), p.Label)
		c := cfg.Base
		c.GatewayArgs = append(append([]string(nil), cfg.Base.GatewayArgs...), p.GatewayArgs...)
		c.Scenarios = []string{scenario.SteadyName, scenario.RevocationName}
		if len(p.Scenarios) > 0 {
			c.Scenarios = p.Scenarios
		}
		c.Micro = p.Micro
		c.OutDir = filepath.Join(dir, "runs")
		c.Batch = "sweep-" + id
		if p.RevocationTimeout > 0 {
			c.RevocationTimeout = p.RevocationTimeout
		}
		c.RevocationSpread = p.RevocationSpread
		c.RefreshAhead = time.Duration(p.RefreshAheadS * float64(time.Second))
		if p.Duration > 0 {
			c.Duration = p.Duration
		}
		load := loadAvg()
		r, runDir, err := bench.Run(ctx, c)
		if err != nil {
			err = fmt.Errorf("sweep point %q: %w", p.Label, err)
			if len(sw.Points) > 0 {
				// The points measured so far are kept.
				err = errors.Join(err, write(dir, sw))
			}
			return sw, dir, err
		}
		if i == 0 {
			sw.Settings, sw.Env = r.Settings, r.Environment
		}
		rel, _ := filepath.Rel(dir, runDir)
		res := measure(p, r, filepath.ToSlash(rel))
		res.LoadAvg = load
		sw.Points = append(sw.Points, res)
	}
	return sw, dir, write(dir, sw)
}

// kindsOf returns the kinds of ps in order of first appearance.
func kindsOf(ps []Point) []string {
	var kinds []string
	for _, p := range ps {
		if k := kindOf(p); !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

func kindOf(p Point) string {
	if p.Kind == "" {
		return KindCache
	}
	return p.Kind
}

// measure reads one point's numbers from its report.
func measure(p Point, r *report.Report, run string) Result {
	res := Result{Point: p, Run: run, Users: r.Settings.Users, Rate: r.Settings.Rate}
	if s := r.Scenario(scenario.SteadyName); s != nil {
		res.Refreshes, res.RefreshFailures = s.Refreshes, s.RefreshFailures
		if iv := s.RefreshInterval; iv != nil && iv.Count > 0 {
			res.RefreshIntervalMeanMs, res.RefreshIntervalP50Ms = report.Float(iv.Mean), report.Float(iv.P50)
		}
		res.P50Ms, res.P99Ms = s.Latency.P50, s.Latency.P99
		res.RedisCommandsPerRequest = s.RedisCommandsPerRequest
		res.Saturated = s.Load != nil && s.Load.Saturated
		res.Requests, res.DurationS = s.Requests, s.DurationS
		res.CredentialBytes = s.CredentialBytes
		res.GatewayCPUUsPerRequest = s.Gateway.CPUPerRequestUs
		res.SessionsLost, res.Relogins = s.SessionsLost, s.Relogins
	}
	if s := r.Scenario(scenario.RevocationName); s != nil && s.Revocation != nil {
		v := s.Revocation
		res.NotRevoked, res.Pairs, res.TimeoutS, res.Sampled = v.NotRevoked, v.Pairs, v.TimeoutS, v.Sampled
		if v.Lag.Count > 0 {
			res.RevocationP99Ms = report.Float(v.Lag.P99)
			res.RevocationP50Ms = report.Float(v.Lag.P50)
		}
	}
	if m := r.Micro; m != nil {
		res.MicroNsPerOp = report.Float(m.NsPerOp)
		allocs := m.AllocsPerOp
		res.MicroAllocsPerOp = &allocs
	}
	return res
}

// loadAvg reads the 1-minute load average (Linux), nil when it cannot.
func loadAvg() *float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, err := strconv.ParseFloat(f, 64)
	if err != nil {
		return nil
	}
	return &v
}
