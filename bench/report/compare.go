package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/stats"
)

// Comparison files, written into the results directory.
const (
	ComparisonFile          = "COMPARISON.md"
	ComparisonJSONFile      = "COMPARISON.json"
	ComparisonOverviewChart = "comparison-overhead.png"
	// ComparisonSchemaVersion is the version of COMPARISON.json's layout.
	ComparisonSchemaVersion = 1
)

// Located is a report with the directory it was read from, relative to
// the results directory (slash-separated, for Markdown links).
type Located struct {
	Report *Report
	Dir    string
}

// LocatedPaired is a paired run with its directory, relative to the
// results directory.
type LocatedPaired struct {
	Run *PairedRun
	Dir string
}

// Results is everything `authlab compare` reads: every per-strategy
// report and every paired run, newest first.
type Results struct {
	Reports []Located
	Paired  []LocatedPaired
}

// ReadResults scans dir for <strategy>/<run-id>/report.json and
// paired/<run-id>/paired.json. A file that cannot be read is skipped and
// described in the returned warnings.
func ReadResults(dir string) (Results, []string, error) {
	var res Results
	var warnings []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "sweeps" && filepath.Dir(path) == filepath.Clean(dir) {
				// A sweep's runs are not the strategies' defaults.
				return fs.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(dir, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		switch d.Name() {
		case "report.json":
			r, err := ReadJSON(path)
			if err != nil {
				warnings = append(warnings, err.Error())
				return nil
			}
			res.Reports = append(res.Reports, Located{Report: r, Dir: rel})
		case PairedJSONFile:
			p, err := ReadPairedJSON(path)
			if err != nil {
				warnings = append(warnings, err.Error())
				return nil
			}
			res.Paired = append(res.Paired, LocatedPaired{Run: p, Dir: rel})
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, warnings, fmt.Errorf("scan %s: %w", dir, err)
	}
	sort.SliceStable(res.Reports, func(i, j int) bool { return newer(res.Reports[i].Report, res.Reports[j].Report) })
	sort.SliceStable(res.Paired, func(i, j int) bool {
		a, b := res.Paired[i].Run, res.Paired[j].Run
		if !a.StartedAt.Equal(b.StartedAt) {
			return a.StartedAt.After(b.StartedAt)
		}
		return a.RunID > b.RunID
	})
	return res, warnings, nil
}

func newer(a, b *Report) bool {
	if !a.StartedAt.Equal(b.StartedAt) {
		return a.StartedAt.After(b.StartedAt)
	}
	return a.RunID > b.RunID
}

// LatestReports returns the most recent report (by started_at, then run id)
// of every strategy under dir (dir/<strategy>/<run-id>/report.json), in
// catalog order (catalog.Strategies), then the others by name. A report
// that cannot be read is skipped and described in the returned warnings.
func LatestReports(dir string) ([]*Report, []string, error) {
	res, warnings, err := ReadResults(dir)
	if err != nil {
		return nil, warnings, err
	}
	seen := map[string]bool{}
	var out []*Report
	for _, l := range res.Reports {
		if !seen[l.Report.Strategy] {
			seen[l.Report.Strategy] = true
			out = append(out, l.Report)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return byRank(out[i].Strategy, out[j].Strategy) })
	return out, warnings, nil
}

func byRank(a, b string) bool {
	if ra, rb := catalog.Rank(a), catalog.Rank(b); ra != rb {
		return ra < rb
	}
	return a < b
}

// Comparison is COMPARISON.json: one row per strategy, each cell with the
// run it came from. Latency comes from the latest paired run; the other
// columns from the latest per-strategy run that measured them.
type Comparison struct {
	SchemaVersion int       `json:"schema_version"`
	GeneratedAt   time.Time `json:"generated_at"`
	// Control is the strategy every latency ratio divides by.
	Control string `json:"control"`
	// NoiseFloor is the A/A spread of the latest paired run (nil without one).
	NoiseFloor *NoiseFloor `json:"noise_floor"`
	// Paired is the paired run the latency column comes from.
	Paired *RunRef           `json:"paired_run"`
	Rows   []ComparisonRow   `json:"rows"`
	Chart  string            `json:"overview_chart,omitempty"`
	Check  *ConsistencyCheck `json:"consistency_check,omitempty"`
	// Environment is the machine of the paired run (else of the newest
	// report used); Runs lists every run a cell came from.
	Environment Environment `json:"environment"`
	Runs        []RunRef    `json:"runs"`
	Warnings    []string    `json:"warnings,omitempty"`
}

// NoiseFloor is the A/A pair's verdict on the machine.
type NoiseFloor struct {
	// P50 is how far from 1.0 the A/A p50 ratio's interval reached (at
	// least the run's minimum floor): ±P50 is "within noise".
	P50 float64 `json:"p50"`
	// AA is the A/A pair's p50 ratio (second control pool / control).
	AA stats.Interval `json:"aa_ratio"`
	// AAContainsOne is whether that interval holds 1.0, as it should.
	AAContainsOne bool   `json:"aa_contains_one"`
	Source        string `json:"source"`
}

// RunRef names a run a cell came from.
type RunRef struct {
	Kind     string `json:"kind"` // paired | strategy
	Strategy string `json:"strategy,omitempty"`
	RunID    string `json:"run_id"`
	// Source is the run's Markdown report, relative to the results
	// directory.
	Source    string    `json:"source"`
	StartedAt time.Time `json:"started_at"`
	Settings  string    `json:"settings"`
	Commit    string    `json:"commit"`
}

// ComparisonRow is one strategy. A nil cell was not measured.
type ComparisonRow struct {
	Strategy string `json:"strategy"`
	// Latency is the p50 overhead against the control, from the paired
	// run (nil for the control itself, and when the paired run did not
	// include the strategy).
	Latency *LatencyCell `json:"latency_overhead_p50"`
	// CPUPerRequest: Kind "marginal" (cost scenario) or "gross" (steady:
	// idle CPU included).
	CPUPerRequest       *ValueCell      `json:"cpu_us_per_request"`
	SessionsLostOnCrash *ValueCell      `json:"sessions_lost_on_crash"`
	RedisOutage         *OutageCell     `json:"redis_outage"`
	RevocationLagP99    *RevocationCell `json:"revocation_lag_p99_ms"`
	CredentialBytes     *ValueCell      `json:"credential_bytes_per_request"`
	RedisCommands       *ValueCell      `json:"redis_commands_per_request"`
	// MemoryPerSession: Kind "gateway heap" (sessions in the gateway,
	// heap after GC) or "redis" (Redis used_memory).
	MemoryPerSession *ValueCell `json:"memory_per_session_bytes"`
}

// LatencyCell is a ratio to the control with its verdict.
type LatencyCell struct {
	Ratio Ratio `json:"ratio"`
	// Finding is true only for slower or faster.
	Finding bool `json:"finding"`
	// Label is the cell's text: the ratio, its interval and its verdict.
	Label  string `json:"label"`
	Source string `json:"source"`
}

// ValueCell is one number with its kind and source.
type ValueCell struct {
	Value  float64 `json:"value"`
	Kind   string  `json:"kind,omitempty"`
	Note   string  `json:"note,omitempty"`
	Source string  `json:"source"`
	// Rounds > 1: Value is the median over that many runs of one batch
	// (make bench-all's event rounds), Min and Max their range; Source is
	// the newest.
	Rounds int      `json:"rounds,omitempty"`
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
}

// over makes v the median of vals (one per round), with their range when
// there are several.
func (v *ValueCell) over(vals []float64) *ValueCell {
	if len(vals) == 0 {
		return v
	}
	v.Value = Round3(median(vals))
	if len(vals) > 1 {
		lo, hi := slices.Min(vals), slices.Max(vals)
		v.Rounds, v.Min, v.Max = len(vals), Float(Round3(lo)), Float(Round3(hi))
	}
	return v
}

// roundsText is " (median of N rounds, min–max)" for a cell over rounds.
func roundsText(v *ValueCell) string {
	if v.Rounds < 2 || v.Min == nil || v.Max == nil {
		return ""
	}
	return fmt.Sprintf(" (median of %d rounds, %s–%s)", v.Rounds, num(*v.Min), num(*v.Max))
}

func median(vals []float64) float64 {
	s := slices.Clone(vals)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// batchOf returns the reports of l's batch (its strategy, the same
// non-empty Settings.Batch) for which ok holds, l's own first; just l when
// it belongs to no batch.
func batchOf(res Results, l *Located, ok func(*Report) bool) []*Report {
	out := []*Report{l.Report}
	b := l.Report.Settings.Batch
	if b == "" {
		return out
	}
	for i := range res.Reports {
		r := res.Reports[i].Report
		if r != l.Report && r.Strategy == l.Report.Strategy && r.Settings.Batch == b && ok(r) {
			out = append(out, r)
		}
	}
	return out
}

// OutageCell is what a strategy did while Redis was down.
type OutageCell struct {
	// OKPercent of the requests sent while Redis was down (nil: skipped).
	OKPercent    *float64 `json:"ok_percent"`
	SessionsLost int      `json:"sessions_lost"`
	RecoveryS    *float64 `json:"recovery_s"`
	Skipped      string   `json:"skipped,omitempty"`
	Summary      string   `json:"summary"`
	Source       string   `json:"source"`
}

// RevocationCell is the revocation lag.
type RevocationCell struct {
	// P99Ms is nil when no credential was revoked within the timeout; over
	// several rounds of a batch, the median of their p99s (NotRevoked and
	// Pairs are then summed).
	P99Ms      *float64 `json:"p99_ms"`
	Rounds     int      `json:"rounds,omitempty"`
	NotRevoked int      `json:"not_revoked"`
	Pairs      int      `json:"pairs"`
	TimeoutS   float64  `json:"timeout_s"`
	Source     string   `json:"source"`
}

// ConsistencyCheck compares the latest paired run with the one before.
type ConsistencyCheck struct {
	Current  string `json:"current_run"`
	Previous string `json:"previous_run"`
	// Contradictions are cells where one run's finding is contradicted by
	// the other's interval (lying wholly on the other side of 1.0).
	Contradictions []string `json:"contradictions"`
	// AAContainsOne is, per run (current, previous), whether the A/A
	// interval held 1.0.
	AAContainsOne [2]bool `json:"aa_contains_one"`
	Compared      int     `json:"compared"`
}

// Compare builds the comparison from res.
func Compare(res Results, now time.Time) *Comparison {
	c := &Comparison{SchemaVersion: ComparisonSchemaVersion, GeneratedAt: now.UTC(), Control: catalog.Control()}
	used := map[string]RunRef{}
	use := func(l Located) string {
		ref := reportRef(l)
		used[ref.Source] = ref
		return ref.Source
	}
	var latest *LocatedPaired
	if len(res.Paired) > 0 {
		latest = &res.Paired[0]
		ref := pairedRef(*latest)
		c.Paired = &ref
		used[ref.Source] = ref
		c.Environment = latest.Run.Environment
		if aa := latest.Run.Summary.AA.RatioP50; aa != nil && aa.Valid() {
			c.NoiseFloor = &NoiseFloor{P50: latest.Run.Summary.NoiseFloor.P50, AA: aa.Interval, AAContainsOne: aa.Contains(1), Source: ref.Source}
		}
		c.Warnings = append(c.Warnings, latest.Run.Warnings...)
		if len(res.Paired) > 1 {
			c.Check = checkConsistency(res.Paired[0], res.Paired[1])
		}
	} else {
		c.Warnings = append(c.Warnings, "no paired run under results/paired: no latency comparison (run `authlab bench --strategy all --rounds N`)")
	}
	for _, s := range strategiesIn(res) {
		row := ComparisonRow{Strategy: s}
		if latest != nil {
			if ps := latest.Run.Summary.Pool(s); ps != nil && ps.RatioP50 != nil {
				row.Latency = &LatencyCell{Ratio: *ps.RatioP50, Finding: ps.RatioP50.Verdict.IsFinding(), Label: ps.RatioP50.Label(), Source: c.Paired.Source}
			}
		}
		hasCost := func(r *Report) bool { return costOf(r) != nil }
		if l := find(res, s, hasCost); l != nil {
			var vals []float64
			for _, r := range batchOf(res, l, hasCost) {
				vals = append(vals, *costOf(r).MarginalUsPerRequest)
			}
			row.CPUPerRequest = (&ValueCell{Kind: "marginal", Source: use(*l)}).over(vals)
		} else if l := find(res, s, func(r *Report) bool { return loaded(r.Scenario("steady")) != nil }); l != nil {
			row.CPUPerRequest = &ValueCell{Value: l.Report.Scenario("steady").Gateway.CPUPerRequestUs, Kind: "gross",
				Note: "steady: idle CPU included", Source: use(*l)}
		}
		if row.CPUPerRequest == nil && latest != nil {
			if v, ok := pairedMedian(latest.Run, s, func(p PoolRound) float64 { return p.GatewayCPUPerRequestUs }); ok {
				row.CPUPerRequest = &ValueCell{Value: Round3(v), Kind: "gross", Note: "paired run, median over rounds: idle CPU included", Source: c.Paired.Source}
			}
		}
		hasFailover := func(r *Report) bool { return crashPhase(r) != nil }
		if l := find(res, s, hasFailover); l != nil {
			f := crashPhase(l.Report)
			note := fmt.Sprintf("of %d users", l.Report.Settings.Users)
			if f.KillMode != "" {
				retry := "no lb retry"
				if f.Retry {
					retry = "lb retry"
				}
				note += fmt.Sprintf(" (%s, %s)", f.KillMode, retry)
			}
			same := func(r *Report) bool {
				p := crashPhase(r)
				return p != nil && p.KillMode == f.KillMode && p.Retry == f.Retry
			}
			var vals []float64
			for _, r := range batchOf(res, l, same) {
				vals = append(vals, float64(crashPhase(r).SessionsLost))
			}
			row.SessionsLostOnCrash = (&ValueCell{Note: note, Source: use(*l)}).over(vals)
		}
		if l := find(res, s, func(r *Report) bool {
			o := r.Scenario("redis-outage")
			return o != nil && (o.Skipped || o.RedisOutage != nil)
		}); l != nil {
			row.RedisOutage = outageCell(l.Report.Scenario("redis-outage"), use(*l))
		}
		hasRevocation := func(r *Report) bool {
			v := r.Scenario("revocation")
			return v != nil && v.Revocation != nil && v.Revocation.Pairs > 0
		}
		if l := find(res, s, hasRevocation); l != nil {
			v := l.Report.Scenario("revocation").Revocation
			cell := &RevocationCell{TimeoutS: v.TimeoutS, Source: use(*l)}
			var p99s []float64
			for _, r := range batchOf(res, l, hasRevocation) {
				rv := r.Scenario("revocation").Revocation
				cell.NotRevoked += rv.NotRevoked
				cell.Pairs += rv.Pairs
				cell.Rounds++
				if rv.Lag.Count > 0 {
					p99s = append(p99s, rv.Lag.P99)
				}
			}
			if len(p99s) > 0 {
				cell.P99Ms = Float(Round3(median(p99s)))
			}
			if cell.Rounds < 2 {
				cell.Rounds = 0
			}
			row.RevocationLagP99 = cell
		}
		if l, sc := findLoad(res, s, func(sc *Scenario) bool { return true }); l != nil {
			row.CredentialBytes = &ValueCell{Value: sc.CredentialBytes, Note: sc.Name, Source: use(*l)}
		}
		if row.CredentialBytes == nil && latest != nil {
			if v, ok := pairedMedian(latest.Run, s, func(p PoolRound) float64 { return p.CredentialBytes }); ok {
				row.CredentialBytes = &ValueCell{Value: Round3(v), Note: "paired run", Source: c.Paired.Source}
			}
		}
		if l, sc := findLoad(res, s, func(sc *Scenario) bool { return sc.RedisCommandsPerRequest != nil }); l != nil {
			row.RedisCommands = &ValueCell{Value: *sc.RedisCommandsPerRequest, Note: sc.Name, Source: use(*l)}
		}
		if l := find(res, s, func(r *Report) bool { return r.Login.Users > 0 }); l != nil {
			row.MemoryPerSession = memoryCell(s, l.Report.Memory, use(*l))
		}
		c.Rows = append(c.Rows, row)
	}
	for _, ref := range used {
		c.Runs = append(c.Runs, ref)
	}
	sort.Slice(c.Runs, func(i, j int) bool { return c.Runs[i].Source < c.Runs[j].Source })
	if c.Paired == nil && len(res.Reports) > 0 {
		c.Environment = res.Reports[0].Report.Environment
	}
	c.Warnings = append(c.Warnings, environmentWarnings(c)...)
	return c
}

// pairedMedian is the median over the rounds of run of f of the pool
// named strategy (ok false when no round measured it).
func pairedMedian(run *PairedRun, strategy string, f func(PoolRound) float64) (float64, bool) {
	var xs []float64
	for _, r := range run.Rounds {
		for _, p := range r.Pools {
			if p.Pool == strategy && p.Requests > 0 {
				xs = append(xs, f(p))
			}
		}
	}
	if len(xs) == 0 {
		return 0, false
	}
	return stats.Median(xs), true
}

// memoryCell is where strategy's sessions cost memory: the gateways' heap
// after GC when they live in the gateway (sticky), Redis used_memory
// otherwise; the other figure, when measured, goes in the note.
func memoryCell(strategy string, m Memory, source string) *ValueCell {
	heap := m.GatewayHeapPerSessionBytes
	if catalog.KeepsSessionsInInstance(strategy) {
		if heap == nil {
			// Only a heap measurement sees sessions in the gateway: Redis's
			// 0 would mislead.
			return nil
		}
		return &ValueCell{Value: *heap, Kind: "gateway heap", Note: fmt.Sprintf("Redis %s B", num(m.PerSessionBytes)), Source: source}
	}
	cell := &ValueCell{Value: m.PerSessionBytes, Kind: "redis", Source: source}
	if heap != nil {
		cell.Note = fmt.Sprintf("gateway heap %s B", num(*heap))
	}
	return cell
}

// strategiesIn lists every strategy measured, in display order.
func strategiesIn(res Results) []string {
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(res.Paired) > 0 {
		for _, p := range res.Paired[0].Run.Pools {
			if p.Pool == p.Strategy {
				add(p.Strategy)
			}
		}
	}
	for _, l := range res.Reports {
		add(l.Report.Strategy)
	}
	sort.SliceStable(out, func(i, j int) bool { return byRank(out[i], out[j]) })
	return out
}

// find returns the newest report of strategy for which ok holds.
func find(res Results, strategy string, ok func(*Report) bool) *Located {
	for i := range res.Reports {
		if l := &res.Reports[i]; l.Report.Strategy == strategy && ok(l.Report) {
			return l
		}
	}
	return nil
}

// findLoad returns the newest report of strategy with a loaded scenario
// (steady first, then cost, then failover, then any other but the Redis
// outage, whose restarted Redis resets its counters) for which ok holds.
func findLoad(res Results, strategy string, ok func(*Scenario) bool) (*Located, *Scenario) {
	prefer := []string{"steady", "cost", "failover"}
	for i := range res.Reports {
		l := &res.Reports[i]
		if l.Report.Strategy != strategy {
			continue
		}
		for _, name := range prefer {
			if s := loaded(l.Report.Scenario(name)); s != nil && ok(s) {
				return l, s
			}
		}
		for k := range l.Report.Scenarios {
			s := &l.Report.Scenarios[k]
			if s.Name != "redis-outage" && loaded(s) != nil && ok(s) {
				return l, s
			}
		}
	}
	return nil, nil
}

// crashPhase is the failover phase the "sessions lost on crash" column
// reads: a crash without lb retry when the run had one (a run may hold
// several kill modes, the first one in the scenario itself), else the
// first phase; nil when r has no failover result.
func crashPhase(r *Report) *Failover {
	s := loaded(r.Scenario("failover"))
	if s == nil || s.Failover == nil {
		return nil
	}
	phases := []*Failover{s.Failover}
	for i := range s.Failover.Variants {
		if v := s.Failover.Variants[i].Failover; v != nil {
			phases = append(phases, v)
		}
	}
	for _, want := range []func(*Failover) bool{
		func(f *Failover) bool { return f.KillMode == "crash" && !f.Retry },
		func(f *Failover) bool { return f.KillMode == "crash" },
	} {
		for _, f := range phases {
			if want(f) {
				return f
			}
		}
	}
	return s.Failover
}

func costOf(r *Report) *Cost {
	if s := r.Scenario("cost"); s != nil && !s.Skipped && s.Cost != nil && s.Cost.MarginalUsPerRequest != nil {
		return s.Cost
	}
	return nil
}

func loaded(s *Scenario) *Scenario {
	if s == nil || s.Skipped || s.Requests == 0 {
		return nil
	}
	return s
}

func outageCell(s *Scenario, source string) *OutageCell {
	if s.Skipped {
		return &OutageCell{Skipped: s.SkipReason, Summary: "skipped: " + s.SkipReason, Source: source}
	}
	o := s.RedisOutage
	cell := &OutageCell{SessionsLost: s.SessionsLost, RecoveryS: o.RecoveryS, Source: source}
	if o.DuringRequests == 0 {
		cell.Summary = "no request while Redis was down"
		return cell
	}
	pct := 100 * float64(o.DuringOK) / float64(o.DuringRequests)
	cell.OKPercent = Float(Round3(pct))
	var what string
	switch {
	case pct >= 99:
		what = "unaffected"
	case pct >= 50:
		what = "partly serves"
	default:
		what = "fails"
	}
	cell.Summary = fmt.Sprintf("%s: %s%% OK", what, num(pct))
	if o.DuringErrors.StoreDown > 0 {
		cell.Summary += fmt.Sprintf(" (%d × 503)", o.DuringErrors.StoreDown)
	}
	if s.SessionsLost > 0 {
		cell.Summary += fmt.Sprintf(", %d sessions lost", s.SessionsLost)
	}
	if pct < 99 || s.SessionsLost > 0 {
		if o.RecoveryS == nil {
			cell.Summary += ", not recovered by the end of the run"
		} else {
			cell.Summary += ", recovered " + num(*o.RecoveryS) + " s after the restart"
		}
	}
	return cell
}

func reportRef(l Located) RunRef {
	r := l.Report
	st := r.Settings
	return RunRef{Kind: "strategy", Strategy: r.Strategy, RunID: r.RunID, Source: l.Dir + "/report.md", StartedAt: r.StartedAt,
		Settings: fmt.Sprintf("%s; %d instances, %s policy, %d users, %s req/s × %s s", strings.Join(st.Scenarios, ","),
			st.Instances, st.Policy, st.Users, num(st.Rate), num(st.DurationS)),
		Commit: commitText(r.Environment)}
}

func pairedRef(l LocatedPaired) RunRef {
	st := l.Run.Settings
	return RunRef{Kind: "paired", RunID: l.Run.RunID, Source: l.Dir + "/" + PairedMDFile, StartedAt: l.Run.StartedAt,
		Settings: fmt.Sprintf("%s; %d rounds × %s s (+%s s warm-up), %s req/s per pool, %d users and %d instances per pool",
			strings.Join(st.Strategies, ","), len(l.Run.Rounds), num(st.DurationS), num(st.WarmupS), num(st.RatePerPool), st.UsersPerPool, st.Instances),
		Commit: commitText(l.Run.Environment)}
}

func commitText(e Environment) string {
	if e.GitDirty {
		return e.GitCommit + " (dirty)"
	}
	return e.GitCommit
}

// environmentWarnings flags runs from another machine or commit than the
// one the comparison states.
func environmentWarnings(c *Comparison) []string {
	var out []string
	want := commitText(c.Environment)
	for _, r := range c.Runs {
		if r.Commit != want {
			out = append(out, fmt.Sprintf("%s was measured at commit %s, the environment below at %s", r.Source, r.Commit, want))
		}
	}
	return out
}

// checkConsistency compares two paired runs cell by cell: a finding in one
// is contradicted when the other's interval lies wholly on the other side
// of 1.0 (stats.Contradicts covers two opposite findings).
func checkConsistency(cur, prev LocatedPaired) *ConsistencyCheck {
	chk := &ConsistencyCheck{Current: cur.Dir, Previous: prev.Dir, Contradictions: []string{}}
	aaOK := func(r *PairedRun) bool { a := r.Summary.AA.RatioP50; return a != nil && a.Valid() && a.Contains(1) }
	chk.AAContainsOne = [2]bool{aaOK(cur.Run), aaOK(prev.Run)}
	type cell struct {
		name string
		get  func(*PoolSummary) *Ratio
	}
	cells := []cell{
		{"p50 (per second)", func(p *PoolSummary) *Ratio { return p.RatioP50 }},
		{"p50 (per round)", func(p *PoolSummary) *Ratio { return p.RatioP50Rounds }},
		{"p90", func(p *PoolSummary) *Ratio { return p.RatioP90 }},
		{"p99", func(p *PoolSummary) *Ratio { return p.RatioP99 }},
	}
	for _, a := range append([]PoolSummary{cur.Run.Summary.AA}, cur.Run.Summary.Pools...) {
		b := prev.Run.Summary.Pool(a.Pool)
		if a.Pool == prev.Run.Summary.AA.Pool {
			b = &prev.Run.Summary.AA
		}
		if b == nil {
			continue
		}
		for _, c := range cells {
			ra, rb := c.get(&a), c.get(b)
			if ra == nil || rb == nil || !ra.Valid() || !rb.Valid() {
				continue
			}
			chk.Compared++
			if contradicts(ra, rb) || contradicts(rb, ra) || stats.Contradicts(ra.Verdict, rb.Verdict) {
				chk.Contradictions = append(chk.Contradictions, fmt.Sprintf("%s %s: %s in %s, %s in %s",
					a.Pool, c.name, ra.Label(), cur.Dir, rb.Label(), prev.Dir))
			}
		}
	}
	return chk
}

// contradicts reports whether finding a is contradicted by b's interval.
func contradicts(a, b *Ratio) bool {
	switch a.Verdict {
	case stats.Slower:
		return b.Hi < 1
	case stats.Faster:
		return b.Lo > 1
	}
	return false
}

// WriteComparison reads every run under dir and writes COMPARISON.md,
// COMPARISON.json and the overview chart into dir. It returns the
// comparison, the Markdown path and warnings about unreadable files.
func WriteComparison(dir string, now time.Time) (*Comparison, string, []string, error) {
	res, warnings, err := ReadResults(dir)
	if err != nil {
		return nil, "", warnings, err
	}
	if len(res.Reports) == 0 && len(res.Paired) == 0 {
		return nil, "", warnings, fmt.Errorf("no report.json or paired.json under %s: run `authlab bench` first", dir)
	}
	c := Compare(res, now)
	if len(res.Paired) > 0 {
		if err := SaveIntervalChart(overviewChart(c, res.Paired[0].Run), filepath.Join(dir, ComparisonOverviewChart)); err != nil {
			return c, "", warnings, err
		}
		c.Chart = ComparisonOverviewChart
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return c, "", warnings, fmt.Errorf("encode comparison: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ComparisonJSONFile), append(b, '\n'), 0o644); err != nil {
		return c, "", warnings, fmt.Errorf("write comparison: %w", err)
	}
	path := filepath.Join(dir, ComparisonFile)
	f, err := os.Create(path)
	if err != nil {
		return c, "", warnings, fmt.Errorf("create comparison: %w", err)
	}
	if err := RenderComparison(f, c); err != nil {
		f.Close()
		return c, "", warnings, err
	}
	if err := f.Close(); err != nil {
		return c, "", warnings, fmt.Errorf("close comparison: %w", err)
	}
	return c, path, warnings, nil
}

// overviewChart is every strategy's p50 overhead with its interval, one
// ring per round, and the A/A noise band.
func overviewChart(c *Comparison, run *PairedRun) IntervalChart {
	one := 1.0
	floor := 0.0
	if c.NoiseFloor != nil {
		floor = c.NoiseFloor.P50
	}
	ch := IntervalChart{
		Title:  fmt.Sprintf("latency overhead vs `%s` (p50, measured side by side, %d rounds)", c.Control, len(run.Rounds)),
		XLabel: fmt.Sprintf("strategy (%s: A/A control) · bar: 95%% interval · rings: single rounds · shaded: noise band ±%s%%", run.AAPool, num(100*floor)),
		YLabel: fmt.Sprintf("p50 latency / %s p50 (×)", c.Control),
		Ref:    &one, Band: floor, Unit: "×",
	}
	ch.addP50Ratios(run)
	return ch
}

// addP50Ratios adds a row per pool of run with a p50 ratio (the A/A pool
// first): its interval, its verdict, and one dot per round.
func (c *IntervalChart) addP50Ratios(run *PairedRun) {
	for _, s := range append([]PoolSummary{run.Summary.AA}, run.Summary.Pools...) {
		if s.RatioP50 == nil || s.Pool == "" {
			continue
		}
		c.Names = append(c.Names, s.Pool)
		c.Intervals = append(c.Intervals, s.RatioP50.Interval)
		c.Notes = append(c.Notes, string(s.RatioP50.Verdict))
		var dots []float64
		for _, r := range run.Rounds {
			for _, rr := range r.Ratios {
				if rr.Pool == s.Pool && rr.P50 > 0 {
					dots = append(dots, rr.P50)
				}
			}
		}
		c.Dots = append(c.Dots, dots)
	}
}

// RenderComparison writes COMPARISON.md for c: the noise floor, one table
// (a row per strategy, each cell linked to its run), the overview chart,
// the consistency check, the environment stated once, and the runs used.
func RenderComparison(w io.Writer, c *Comparison) error {
	var b strings.Builder
	b.WriteString("# authlab — strategies compared\n\n")
	switch nf := c.NoiseFloor; {
	case nf == nil:
		b.WriteString("**Noise floor: unknown** — no paired run with an A/A pair, so no latency difference can be called a finding.\n\n")
	default:
		holds := "contains 1.0, as it should"
		if !nf.AAContainsOne {
			holds = "**excludes 1.0**: two identical pools measured differently; treat findings near the floor with care"
		}
		fmt.Fprintf(&b, "**Noise floor: ±%s%%** (p50 latency). Two identical `%s` pools, measured side by side in [the paired run](%s), "+
			"differed by up to this much: their ratio was %s (95%% interval; it %s). A latency difference is a **finding** only when its interval "+
			"excludes 1.0 *and* it exceeds the noise floor; otherwise the cell says *within noise*.\n\n",
			num(100*nf.P50), c.Control, nf.Source, RatioText(nf.AA), holds)
	}
	b.WriteString("| strategy | latency overhead vs `" + c.Control + "` (p50, paired) | CPU per request | sessions lost on crash | during a Redis outage | revocation lag p99 | credential bytes / request | Redis commands / request | memory per session |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range c.Rows {
		cells := []string{"**" + r.Strategy + "**", latencyText(c, r), cpuText(r.CPUPerRequest), lostText(r.SessionsLostOnCrash),
			outageText(r.RedisOutage), revocationText(r.RevocationLagP99), valueText(r.CredentialBytes, ""),
			valueText(r.RedisCommands, ""), memoryText(r.MemoryPerSession)}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	b.WriteString("\nLatency: from the latest paired run (every strategy at the same moment, in rounds on fresh topologies; `estimate [95% interval]`). " +
		"The other columns: from the latest run of each strategy that measured them (`authlab bench --strategy S --scenario …`), one run each — they count events, not time. " +
		"CPU per request is *marginal* ((CPU under load − idle CPU) / requests, cost scenario) when measured, else *gross* (steady scenario, idle CPU included). " +
		"Memory per session: gateway heap after GC for sessions held in the gateway, else Redis `used_memory` per session. " +
		"Every cell links to its run; `results/README.md` defines each number.\n\n")
	if c.Chart != "" {
		fmt.Fprintf(&b, "![latency overhead per strategy with its interval and the noise band](%s)\n\n", c.Chart)
	}
	for _, wn := range c.Warnings {
		fmt.Fprintf(&b, "> **Warning:** %s\n\n", wn)
	}
	if k := c.Check; k != nil {
		b.WriteString("## Consistency with the previous paired run\n\n")
		fmt.Fprintf(&b, "[%s](%s/%s) against [%s](%s/%s): %d cells compared; A/A interval contains 1.0: %s (this run), %s (previous). ",
			k.Current, k.Current, PairedMDFile, k.Previous, k.Previous, PairedMDFile, k.Compared, yesNo(k.AAContainsOne[0]), yesNo(k.AAContainsOne[1]))
		if len(k.Contradictions) == 0 {
			b.WriteString("**No contradiction**: no finding of one run is contradicted by the other's interval.\n\n")
		} else {
			fmt.Fprintf(&b, "**%d contradiction(s)** — these cells are not settled; re-run with more rounds:\n\n", len(k.Contradictions))
			for _, x := range k.Contradictions {
				fmt.Fprintf(&b, "- %s\n", x)
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("## Environment\n\n")
	e := c.Environment
	fmt.Fprintf(&b, "%s/%s, kernel %s, %s × %d CPUs; %s; Redis: %s %s; commit %s.", e.OS, e.Arch, e.Kernel, e.CPUModel, e.CPUs,
		e.GoVersion, e.RedisKind, e.RedisVersion, commitText(e))
	if c.Paired != nil {
		fmt.Fprintf(&b, " Paired run: %s.", c.Paired.Settings)
	}
	b.WriteString("\n\n## Runs used\n\n| run | kind | settings | commit |\n|---|---|---|---|\n")
	for _, r := range c.Runs {
		fmt.Fprintf(&b, "| [%s](%s) | %s | %s | %s |\n", r.RunID, r.Source, runKind(r), r.Settings, r.Commit)
	}
	fmt.Fprintf(&b, "\nGenerated by `authlab compare` at %s UTC; the same data for tools: `%s`.\n", c.GeneratedAt.Format("2006-01-02 15:04:05"), ComparisonJSONFile)
	_, err := io.WriteString(w, b.String())
	return err
}

func runKind(r RunRef) string {
	if r.Kind == "paired" {
		return "paired"
	}
	return r.Strategy
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "**no**"
}

func link(text, source string) string { return fmt.Sprintf("[%s](%s)", text, source) }

func latencyText(c *Comparison, r ComparisonRow) string {
	switch {
	case r.Strategy == c.Control && c.Paired != nil:
		return link("control (1×)", c.Paired.Source)
	case r.Latency == nil:
		return "– (not in the paired run)"
	}
	return link(r.Latency.Label, r.Latency.Source)
}

func cpuText(v *ValueCell) string {
	if v == nil {
		return "–"
	}
	return link(num(v.Value)+" µs ("+v.Kind+")"+roundsText(v), v.Source)
}

func lostText(v *ValueCell) string {
	if v == nil {
		return "–"
	}
	return link(num(v.Value)+" "+v.Note+roundsText(v), v.Source)
}

func valueText(v *ValueCell, unit string) string {
	if v == nil {
		return "–"
	}
	return link(num(v.Value)+unit, v.Source)
}

func memoryText(v *ValueCell) string {
	if v == nil {
		return "–"
	}
	s := num(v.Value) + " B (" + v.Kind + ")"
	if v.Note != "" {
		s += "; " + v.Note
	}
	return link(s, v.Source)
}

func outageText(o *OutageCell) string {
	if o == nil {
		return "–"
	}
	return link(o.Summary, o.Source)
}

func revocationText(v *RevocationCell) string {
	if v == nil {
		return "–"
	}
	var s string
	switch {
	case v.P99Ms == nil:
		s = fmt.Sprintf("none revoked in %s s (%d checks)", num(v.TimeoutS), v.Pairs)
	case v.NotRevoked > 0:
		s = fmt.Sprintf("%s ms; %d/%d not revoked in %s s", num(*v.P99Ms), v.NotRevoked, v.Pairs, num(v.TimeoutS))
	default:
		s = num(*v.P99Ms) + " ms"
	}
	if v.Rounds > 1 {
		s += fmt.Sprintf(" (median of %d rounds)", v.Rounds)
	}
	return link(s, v.Source)
}
