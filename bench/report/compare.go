package report

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/authlab/authlab/bench/catalog"
)

// Comparison file names, written into the results directory.
const (
	ComparisonFile         = "COMPARISON.md"
	CompareLatencyChart    = "comparison-latency.png"
	CompareFailoverChart   = "comparison-failover.png"
	CompareRevokeChart     = "comparison-revocation.png"
	CompareThroughputChart = "comparison-throughput.png"
)

// LatestReports returns the most recent report (by started_at, then run id)
// of every strategy under dir (dir/<strategy>/<run-id>/report.json),
// in catalog order (catalog.Strategies), then the others by name. A
// report that cannot be read is skipped and described in the returned
// warnings.
func LatestReports(dir string) ([]*Report, []string, error) {
	latest := map[string]*Report{}
	var warnings []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != "report.json" {
			return nil
		}
		r, err := ReadJSON(path)
		if err != nil {
			warnings = append(warnings, err.Error())
			return nil
		}
		cur, ok := latest[r.Strategy]
		if !ok || r.StartedAt.After(cur.StartedAt) || (r.StartedAt.Equal(cur.StartedAt) && r.RunID > cur.RunID) {
			latest[r.Strategy] = r
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, warnings, fmt.Errorf("scan %s: %w", dir, err)
	}
	out := make([]*Report, 0, len(latest))
	for _, r := range latest {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := catalog.Rank(out[i].Strategy), catalog.Rank(out[j].Strategy)
		if a != b {
			return a < b
		}
		return out[i].Strategy < out[j].Strategy
	})
	return out, warnings, nil
}

// Row is one strategy's line of the comparison. Pointer fields are nil when
// the scenario that measures them was not run (or skipped).
type Row struct {
	Strategy string
	RunID    string
	// Steady state.
	P50, P99           *float64
	P50Ratio, P99Ratio *float64 // to the none strategy's steady run
	Throughput         *float64 // achieved rate of the steady run
	MaxRate            *float64 // capacity scenario
	// Failover.
	SessionsLost *int
	WindowErrors *int
	RecoveryS    *float64
	Recovered    bool
	// Redis outage.
	RedisOKPct    *float64
	RedisLost     int // sessions lost in the outage scenario (Redis restarts empty)
	RedisRecovery *float64
	RedisNote     string
	// Revocation.
	RevokeP50, RevokeMax *float64
	NotRevoked, Pairs    int
	Revoked              int // pairs that did reject within the timeout
	RevokeTimeoutS       float64
	RevokeMeasured       bool
	// Cost.
	CredentialBytes *float64
	RedisCmds       *float64
	MemPerSession   float64  // Redis bytes per session
	GatewayPerLogin *float64 // gateways' RSS growth per login minus the none strategy's
	Verdict         string
}

// Compare turns the reports into rows, one per strategy.
func Compare(reports []*Report) []Row {
	var base *Scenario
	var baseMem *float64
	for _, r := range reports {
		if catalog.IsControl(r.Strategy) {
			base = loaded(r.Scenario("steady"))
			baseMem = Float(r.Memory.GatewayPerLoginBytes)
		}
	}
	rows := make([]Row, 0, len(reports))
	for _, r := range reports {
		row := Row{Strategy: r.Strategy, RunID: r.RunID, MemPerSession: r.Memory.PerSessionBytes}
		if baseMem != nil {
			row.GatewayPerLogin = Float(r.Memory.GatewayPerLoginBytes - *baseMem)
		}
		if s := loaded(r.Scenario("steady")); s != nil {
			row.P50, row.P99 = Float(s.Latency.P50), Float(s.Latency.P99)
			row.Throughput = Float(s.AchievedRate)
			row.CredentialBytes = Float(s.CredentialBytes)
			row.RedisCmds = s.RedisCommandsPerRequest
			if base != nil && base.Latency.P50 > 0 && base.Latency.P99 > 0 {
				row.P50Ratio = Float(s.Latency.P50 / base.Latency.P50)
				row.P99Ratio = Float(s.Latency.P99 / base.Latency.P99)
			}
		}
		if s := r.Scenario("capacity"); s != nil && s.Capacity != nil {
			row.MaxRate = Float(s.Capacity.MaxRate)
		}
		if s := loaded(r.Scenario("failover")); s != nil && s.Failover != nil {
			lost, werr := s.SessionsLost, s.Failover.WindowErrors
			row.SessionsLost, row.WindowErrors = &lost, &werr
			row.RecoveryS, row.Recovered = s.Failover.RecoveryS, s.Failover.RecoveryS != nil
		}
		if s := r.Scenario("redis-outage"); s != nil {
			switch {
			case s.Skipped:
				row.RedisNote = "skipped: " + s.SkipReason
			case s.RedisOutage != nil && s.RedisOutage.DuringRequests > 0:
				o := s.RedisOutage
				row.RedisOKPct = Float(100 * float64(o.DuringOK) / float64(o.DuringRequests))
				row.RedisRecovery = o.RecoveryS
				row.RedisLost = s.SessionsLost
			}
		}
		if s := r.Scenario("revocation"); s != nil && s.Revocation != nil && s.Revocation.Pairs > 0 {
			v := s.Revocation
			row.RevokeMeasured = true
			row.RevokeP50, row.RevokeMax = Float(v.Lag.P50), Float(v.Lag.Max)
			row.NotRevoked, row.Pairs, row.RevokeTimeoutS = v.NotRevoked, v.Pairs, v.TimeoutS
			row.Revoked = v.Lag.Count
		}
		row.Verdict = verdict(row, r.Settings.Users)
		rows = append(rows, row)
	}
	return rows
}

func loaded(s *Scenario) *Scenario {
	if s == nil || s.Skipped || s.Requests == 0 {
		return nil
	}
	return s
}

// verdict derives a few plain sentences from the numbers.
func verdict(r Row, users int) string {
	var parts []string
	if catalog.IsControl(r.Strategy) {
		return "Control group: no authentication at all; the floor every other strategy is measured against."
	}
	if r.P50Ratio != nil {
		parts = append(parts, fmt.Sprintf("costs %s× the p50 latency of no auth (p99 %s×)", num(*r.P50Ratio), num(*r.P99Ratio)))
	}
	if r.SessionsLost != nil {
		if *r.SessionsLost > 0 {
			parts = append(parts, fmt.Sprintf("an instance crash logs out its users (%d of %d sessions lost, each needing a new login)", *r.SessionsLost, users))
		} else {
			parts = append(parts, "survives an instance crash with no session lost")
		}
	}
	but, and := "", ""
	if r.RedisLost > 0 {
		lost := fmt.Sprintf("%d sessions were lost when Redis came back empty", r.RedisLost)
		but, and = ", but "+lost, "; "+lost
	}
	switch {
	case r.RedisOKPct == nil:
	case *r.RedisOKPct >= 99 && r.RedisLost == 0:
		parts = append(parts, "does not notice a Redis outage")
	case *r.RedisOKPct >= 99:
		parts = append(parts, "keeps serving while Redis is down"+but)
	case *r.RedisOKPct >= 50:
		parts = append(parts, fmt.Sprintf("partly rides out a Redis outage (%s%% OK while down)%s", num(*r.RedisOKPct), and))
	default:
		parts = append(parts, fmt.Sprintf("depends on Redis: only %s%% of requests succeed while it is down%s", num(*r.RedisOKPct), and))
	}
	if r.RevokeMeasured {
		if r.NotRevoked > 0 {
			parts = append(parts, fmt.Sprintf("logout is not immediate: %d of %d instance checks still accepted the credential after %s s (it stays valid until it expires or a cached copy runs out)", r.NotRevoked, r.Pairs, num(r.RevokeTimeoutS)))
		} else {
			parts = append(parts, fmt.Sprintf("logout takes effect everywhere within %s ms", num(*r.RevokeMax)))
		}
	}
	if r.CredentialBytes != nil && *r.CredentialBytes >= 200 {
		parts = append(parts, fmt.Sprintf("sends a %s-byte credential with every request", num(*r.CredentialBytes)))
	}
	if r.RedisCmds != nil && *r.RedisCmds >= 0.5 {
		parts = append(parts, fmt.Sprintf("costs Redis round trips on the request path (%s commands per request)", num(*r.RedisCmds)))
	}
	if len(parts) == 0 {
		return "Not enough scenarios measured for a verdict."
	}
	s := strings.Join(parts, "; ") + "."
	return strings.ToUpper(s[:1]) + s[1:]
}

// RenderComparison writes COMPARISON.md for rows. Charts are referenced by
// the names WriteComparisonCharts gives them.
func RenderComparison(w io.Writer, reports []*Report, rows []Row) error {
	var b strings.Builder
	b.WriteString("# authlab — strategies side by side\n\n")
	b.WriteString("Latest run of each strategy found under `results/`. Generated by `authlab compare`; see `results/README.md` for how every number is measured.\n\n")
	b.WriteString("| | " + strings.Join(colNames(rows), " | ") + " |\n")
	b.WriteString("|---" + strings.Repeat("|---", len(rows)) + "|\n")
	line := func(label string, f func(Row) string) {
		cells := make([]string, len(rows))
		for i, r := range rows {
			cells[i] = f(r)
		}
		fmt.Fprintf(&b, "| %s | %s |\n", label, strings.Join(cells, " | "))
	}
	line("steady p50 / p99 (ms)", func(r Row) string { return pair(r.P50, r.P99, "") })
	line("latency ratio to `"+catalog.Control()+"` (p50 / p99)", func(r Row) string { return pair(r.P50Ratio, r.P99Ratio, "×") })
	line("throughput (achieved req/s, steady)", func(r Row) string { return opt(r.Throughput, "") })
	line("capacity (req/s with p99 under bound)", func(r Row) string { return opt(r.MaxRate, "") })
	line("sessions lost on kill", func(r Row) string { return optInt(r.SessionsLost) })
	line("errors in failover window", func(r Row) string { return optInt(r.WindowErrors) })
	line("time to recover", func(r Row) string {
		if r.SessionsLost == nil {
			return "–"
		}
		return secondsText(r.RecoveryS)
	})
	line("Redis down: % OK / sessions lost / recovery after restart", func(r Row) string {
		if r.RedisOKPct == nil {
			if r.RedisNote != "" {
				return r.RedisNote
			}
			return "–"
		}
		return fmt.Sprintf("%s%% / %d / %s", num(*r.RedisOKPct), r.RedisLost, secondsText(r.RedisRecovery))
	})
	line("revocation lag p50 / max (ms)", func(r Row) string {
		if !r.RevokeMeasured {
			return "–"
		}
		if r.Revoked == 0 {
			return fmt.Sprintf("none revoked in %s s (%d checks)", num(r.RevokeTimeoutS), r.Pairs)
		}
		s := pair(r.RevokeP50, r.RevokeMax, "")
		if r.NotRevoked > 0 {
			s += fmt.Sprintf("; %d/%d not revoked in %s s", r.NotRevoked, r.Pairs, num(r.RevokeTimeoutS))
		}
		return s
	})
	line("credential bytes / request", func(r Row) string { return opt(r.CredentialBytes, "") })
	line("Redis commands / request", func(r Row) string { return opt(r.RedisCmds, "") })
	line("Redis bytes per session", func(r Row) string { return num(r.MemPerSession) })
	line("gateway RSS per login, minus `"+catalog.Control()+"`'s (bytes, noisy)", func(r Row) string { return opt(r.GatewayPerLogin, "") })
	b.WriteString("\n## Verdicts\n\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "- **%s** — %s\n", r.Strategy, r.Verdict)
	}
	b.WriteString("\n## Charts\n\n")
	for _, c := range []struct{ file, alt string }{
		{CompareLatencyChart, "steady-state latency per strategy"},
		{CompareThroughputChart, "throughput per strategy"},
		{CompareFailoverChart, "sessions lost and errors when an instance is killed"},
		{CompareRevokeChart, "revocation lag per strategy"},
	} {
		fmt.Fprintf(&b, "![%s](%s)\n\n", c.alt, c.file)
	}
	b.WriteString("## Runs\n\n| strategy | run | settings | machine | Redis |\n|---|---|---|---|---|\n")
	for _, r := range reports {
		st, e := r.Settings, r.Environment
		fmt.Fprintf(&b, "| %s | `%s` | %d instances, %s policy, %d users, %s req/s × %s s | %s, %d CPUs, %s | %s %s |\n",
			r.Strategy, r.RunID, st.Instances, st.Policy, st.Users, num(st.Rate), num(st.DurationS),
			e.CPUModel, e.CPUs, e.GoVersion, e.RedisKind, e.RedisVersion)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteComparisonCharts writes the comparison charts into dir.
func WriteComparisonCharts(dir string, rows []Row) ([]string, error) {
	names := colNames(rows)
	val := func(f func(Row) *float64) []float64 {
		out := make([]float64, len(rows))
		for i, r := range rows {
			if v := f(r); v != nil {
				out[i] = *v
			}
		}
		return out
	}
	intv := func(f func(Row) *int) []float64 {
		out := make([]float64, len(rows))
		for i, r := range rows {
			if v := f(r); v != nil {
				out[i] = float64(*v)
			}
		}
		return out
	}
	charts := []struct {
		file, title, ylabel string
		order               []string
		series              map[string][]float64
	}{
		{CompareLatencyChart, "steady-state latency", "ms", []string{"p50", "p99"},
			map[string][]float64{"p50": val(func(r Row) *float64 { return r.P50 }), "p99": val(func(r Row) *float64 { return r.P99 })}},
		{CompareThroughputChart, "throughput", "requests per second", []string{"steady (achieved)", "capacity"},
			map[string][]float64{"steady (achieved)": val(func(r Row) *float64 { return r.Throughput }), "capacity": val(func(r Row) *float64 { return r.MaxRate })}},
		{CompareFailoverChart, "one instance killed", "count", []string{"sessions lost", "errors between kill and revive"},
			map[string][]float64{"sessions lost": intv(func(r Row) *int { return r.SessionsLost }),
				"errors between kill and revive": intv(func(r Row) *int { return r.WindowErrors })}},
		{CompareRevokeChart, "revocation lag (logout until every instance rejects)", "ms", []string{"p50", "max"},
			map[string][]float64{"p50": val(func(r Row) *float64 { return r.RevokeP50 }), "max": val(func(r Row) *float64 { return r.RevokeMax })}},
	}
	var files []string
	for _, c := range charts {
		p, err := GroupedBars(c.title, c.ylabel, names, c.order, c.series)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, c.file)
		if err := SavePNG(p, path); err != nil {
			return nil, err
		}
		files = append(files, path)
	}
	return files, nil
}

// WriteComparison reads the latest report of every strategy under dir and
// writes dir/COMPARISON.md and its charts. It returns the markdown path and
// any warnings about unreadable reports.
func WriteComparison(dir string) (string, []string, error) {
	reports, warnings, err := LatestReports(dir)
	if err != nil {
		return "", warnings, err
	}
	if len(reports) == 0 {
		return "", warnings, fmt.Errorf("no report.json under %s: run `authlab bench` first", dir)
	}
	rows := Compare(reports)
	if _, err := WriteComparisonCharts(dir, rows); err != nil {
		return "", warnings, err
	}
	path := filepath.Join(dir, ComparisonFile)
	f, err := os.Create(path)
	if err != nil {
		return "", warnings, fmt.Errorf("create comparison: %w", err)
	}
	if err := RenderComparison(f, reports, rows); err != nil {
		f.Close()
		return "", warnings, err
	}
	if err := f.Close(); err != nil {
		return "", warnings, fmt.Errorf("close comparison: %w", err)
	}
	return path, warnings, nil
}

func colNames(rows []Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Strategy
	}
	return out
}

func opt(v *float64, unit string) string {
	if v == nil {
		return "–"
	}
	return num(*v) + unit
}

func optInt(v *int) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("%d", *v)
}

func pair(a, b *float64, unit string) string {
	if a == nil || b == nil {
		return "–"
	}
	return num(*a) + unit + " / " + num(*b) + unit
}
