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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/authlab/authlab/bench"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/bench/scenario"
)

// Dir is the directory under the results root that holds sweeps.
const Dir = "sweeps"

// Point is one setting of the sweep: extra gateway flags and a label.
type Point struct {
	Label       string   `json:"label"`
	GatewayArgs []string `json:"gateway_args"`
	// RevocationTimeout bounds the revocation polling at this point (a
	// cache TTL of 30 s needs more than 10 s to show its lag).
	RevocationTimeout time.Duration `json:"-"`
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
			ps = append(ps, Point{Label: label, GatewayArgs: args, RevocationTimeout: ttl + 5*time.Second})
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
	NotRevoked      int      `json:"not_revoked"`
	Pairs           int      `json:"pairs"`
	TimeoutS        float64  `json:"timeout_s"`
}

// Sweep is a finished sweep (sweep.json).
type Sweep struct {
	ID       string             `json:"id"`
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
	sw := &Sweep{ID: id, Strategy: cfg.Base.Strategy, Started: started}
	for i, p := range cfg.Points {
		fmt.Fprintf(cfg.Progress, "sweep %s: point %d of %d: %s\n", cfg.Base.Strategy, i+1, len(cfg.Points), p.Label)
		c := cfg.Base
		c.GatewayArgs = append(append([]string(nil), cfg.Base.GatewayArgs...), p.GatewayArgs...)
		c.Scenarios = []string{scenario.SteadyName, scenario.RevocationName}
		c.OutDir = filepath.Join(dir, "runs")
		c.Batch = "sweep-" + id
		if p.RevocationTimeout > 0 {
			c.RevocationTimeout = p.RevocationTimeout
		}
		r, runDir, err := bench.Run(ctx, c)
		if err != nil {
			return sw, dir, fmt.Errorf("sweep point %q: %w", p.Label, err)
		}
		if i == 0 {
			sw.Settings, sw.Env = r.Settings, r.Environment
		}
		rel, _ := filepath.Rel(dir, runDir)
		sw.Points = append(sw.Points, measure(p, r, filepath.ToSlash(rel)))
	}
	return sw, dir, write(dir, sw)
}

// measure reads one point's numbers from its report.
func measure(p Point, r *report.Report, run string) Result {
	res := Result{Point: p, Run: run}
	if s := r.Scenario(scenario.SteadyName); s != nil {
		res.P50Ms, res.P99Ms = s.Latency.P50, s.Latency.P99
		res.RedisCommandsPerRequest = s.RedisCommandsPerRequest
		res.Saturated = s.Load != nil && s.Load.Saturated
	}
	if s := r.Scenario(scenario.RevocationName); s != nil && s.Revocation != nil {
		v := s.Revocation
		res.NotRevoked, res.Pairs, res.TimeoutS = v.NotRevoked, v.Pairs, v.TimeoutS
		if v.Lag.Count > 0 {
			res.RevocationP99Ms = report.Float(v.Lag.P99)
		}
	}
	return res
}

// write saves sweep.json, sweep.md and the frontier chart into dir.
func write(dir string, sw *Sweep) error {
	b, err := json.MarshalIndent(sw, "", "  ")
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sweep.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	chartErr := SaveFrontier(sw, filepath.Join(dir, FrontierChartFile))
	var md strings.Builder
	Render(&md, sw, chartErr == nil)
	if err := os.WriteFile(filepath.Join(dir, "sweep.md"), []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return chartErr
}

// Render writes the sweep's table (and a link to its chart).
func Render(b *strings.Builder, sw *Sweep, chart bool) {
	fmt.Fprintf(b, "# authlab sweep — %s\n\n", sw.Strategy)
	fmt.Fprintf(b, "Sweep `%s`, %s (UTC): one full run per point (fresh topology; steady, then revocation), %s req/s × %s s, %d users, %d instances, commit %s. "+
		"Each row is one run, measured one after the other: read the revocation lag and the Redis commands (counts, stable), and the p50 only for large differences (on a shared machine sequential runs differ by tens of percent).\n\n",
		sw.ID, sw.Started.Format("2006-01-02 15:04:05"), fmtNum(sw.Settings.Rate), fmtNum(sw.Settings.DurationS), sw.Settings.Users, sw.Settings.Instances, sw.Env.GitCommit)
	b.WriteString("| point | revocation lag p99 | not revoked at the timeout | Redis commands / request | p50 ms | p99 ms | run |\n|---|---|---|---|---|---|---|\n")
	for _, p := range sw.Points {
		lag := "none revoked"
		if p.RevocationP99Ms != nil {
			lag = fmtNum(*p.RevocationP99Ms) + " ms"
		}
		cmds := "–"
		if p.RedisCommandsPerRequest != nil {
			cmds = fmtNum(*p.RedisCommandsPerRequest)
		}
		p50 := fmtNum(p.P50Ms)
		if p.Saturated {
			p50 += " (saturated)"
		}
		fmt.Fprintf(b, "| %s | %s | %d of %d (%s s) | %s | %s | %s | [report](%s/report.md) |\n",
			p.Label, lag, p.NotRevoked, p.Pairs, fmtNum(p.TimeoutS), cmds, p50, fmtNum(p.P99Ms), p.Run)
	}
	b.WriteString("\nRevocation lag: a sample of users log out through the lb; every gateway is polled with the logged-out credential until it answers 401 (p99 over every (user, gateway) pair). ")
	b.WriteString("Without pub/sub the other gateways keep a cached token until its cache entry expires (lag ≈ the TTL); with pub/sub a logout reaches every cache at once, for one more Redis publish per logout. ")
	b.WriteString("A shorter TTL buys a shorter lag with more Redis lookups per request.\n\n")
	if chart {
		fmt.Fprintf(b, "![revocation lag against Redis commands per request](%s)\n", FrontierChartFile)
	}
}

func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v == math.Trunc(v) && math.Abs(v) < 1e9:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3g", v)
}
