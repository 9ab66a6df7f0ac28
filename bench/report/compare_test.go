package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/stats"
)

func writeReport(t *testing.T, dir string, r *Report) {
	t.Helper()
	d := filepath.Join(dir, r.Strategy, r.RunID)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(filepath.Join(d, "report.json")); err != nil {
		t.Fatal(err)
	}
}

func writePaired(t *testing.T, dir string, p *PairedRun) {
	t.Helper()
	d := filepath.Join(dir, PairedDir, p.RunID)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteJSON(filepath.Join(d, PairedJSONFile)); err != nil {
		t.Fatal(err)
	}
}

// comparisonFixture: none, sticky (loses sessions, heap per session), jwt
// (revocation lag, a marginal cost from a later run).
func comparisonFixture() []*Report {
	none := fixture("none", 2, 100, 0)
	none.Scenarios = none.Scenarios[:1]
	none.Scenarios[0].Latency.P50 = 1
	none.Memory.PerSessionBytes = 0
	sticky := fixture("sticky", 4, 100, 10)
	sticky.Memory.GatewayHeapPerSessionBytes = Float(812.5)
	jwt := fixture("jwt", 3, 100, 0)
	jwt.Scenarios[0].CredentialBytes = 412
	jwt.Scenarios[0].RedisCommandsPerRequest = Float(0)
	jwt.Scenarios[3].Revocation.NotRevoked = 15
	jwt.Scenarios[3].Revocation.Lag = Percentiles{}
	sticky.Scenarios[2] = Scenario{Name: "redis-outage", SessionsLost: 7, RedisOutage: &RedisOutage{DuringRequests: 300, DuringOK: 300, RecoveryS: Float(2)}}
	jwt.Scenarios[2] = Scenario{Name: "redis-outage", RedisOutage: &RedisOutage{DuringRequests: 300, DuringOK: 300, RecoveryS: Float(0)}}
	// A later jwt run measured only the cost: it supplies the CPU column,
	// not the others.
	jwtCost := fixture("jwt", 3, 100, 0)
	jwtCost.RunID, jwtCost.StartedAt = "20261121-233000-jwt", jwtCost.StartedAt.Add(30*time.Minute)
	jwtCost.Scenarios = []Scenario{{Name: "cost", Requests: 2000, OK: 2000, CredentialBytes: 412, RedisCommandsPerRequest: Float(0),
		Cost: &Cost{IdleCPUPercent: 1.5, MarginalUsPerRequest: Float(41.25)}}}
	return []*Report{none, sticky, jwt, jwtCost}
}

func ratio(est, lo, hi float64, n int, method string, floor float64, v stats.Verdict) *Ratio {
	return &Ratio{Interval: stats.Interval{Est: est, Lo: lo, Hi: hi, Level: 0.95, N: n}, Method: method, NoiseFloor: floor, Verdict: v}
}

// pairedFixture is a paired run of none, sticky and jwt: jwt slower,
// sticky below 1 within noise.
func pairedFixture(id string, start time.Time, jwt *Ratio) *PairedRun {
	env := fixture("none", 1, 1, 0).Environment
	return &PairedRun{
		SchemaVersion: PairedSchemaVersion, RunID: id, StartedAt: start, FinishedAt: start.Add(2 * time.Minute),
		Settings: PairedSettings{Strategies: []string{"none", "sticky", "jwt"}, Rounds: 2, RatePerPool: 100, TotalRate: 400,
			DurationS: 20, WarmupS: 2, UsersPerPool: 100, Instances: 3, BcryptCost: 4, Path: "/api/me", Seed: 1, Resamples: 2000,
			Level: 0.95, MinNoiseFloor: 0.02},
		Environment: env, ControlPool: "none", AAPool: "none-b",
		Pools: []PoolInfo{{Pool: "none", Strategy: "none"}, {Pool: "none-b", Strategy: "none"}, {Pool: "sticky", Strategy: "sticky"}, {Pool: "jwt", Strategy: "jwt"}},
		Rounds: []PairedRound{
			{Round: 1, Ratios: []RoundRatio{{Pool: "none-b", P50: 1.01}, {Pool: "sticky", P50: 0.98}, {Pool: "jwt", P50: 1.11}}},
			{Round: 2, Ratios: []RoundRatio{{Pool: "none-b", P50: 0.99}, {Pool: "sticky", P50: 0.97}, {Pool: "jwt", P50: 1.14}}},
		},
		Summary: PairedSummary{
			NoiseFloor: NoiseFloors{P50: 0.031, P90: 0.05, P99: 0.2},
			AA:         PoolSummary{Pool: "none-b", Strategy: "none", Rounds: 2, RatioP50: ratio(1.004, 0.969, 1.031, 40, MethodSeconds, 0.031, stats.WithinNoise)},
			Pools: []PoolSummary{
				{Pool: "none", Strategy: "none", Rounds: 2, P50Ms: stats.Interval{Est: 1, Lo: 0.9, Hi: 1.1, Level: 0.95, N: 2}},
				{Pool: "sticky", Strategy: "sticky", Rounds: 2, RatioP50: ratio(0.975, 0.95, 1.002, 40, MethodSeconds, 0.031, stats.WithinNoise)},
				{Pool: "jwt", Strategy: "jwt", Rounds: 2, RatioP50: jwt},
			},
		},
	}
}

func fixtureResults(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, r := range comparisonFixture() {
		writeReport(t, dir, r)
	}
	start := time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC)
	writePaired(t, dir, pairedFixture("20261121-220000", start, ratio(1.12, 1.08, 1.17, 40, MethodSeconds, 0.031, stats.Slower)))
	return dir
}

func TestLatestReportsPicksNewestPerStrategyInOrder(t *testing.T) {
	dir := fixtureResults(t)
	if err := os.MkdirAll(filepath.Join(dir, "broken", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken", "x", "report.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	reports, warnings, err := LatestReports(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range reports {
		got = append(got, r.Strategy+":"+r.RunID)
	}
	want := "none:20261121-230000-none sticky:20261121-230000-sticky jwt:20261121-233000-jwt"
	if strings.Join(got, " ") != want {
		t.Errorf("LatestReports = %v, want %s", got, want)
	}
	if len(warnings) != 1 {
		t.Errorf("warnings = %v, want one for the broken report", warnings)
	}
}

func TestCompareCells(t *testing.T) {
	res, _, err := ReadResults(fixtureResults(t))
	if err != nil {
		t.Fatal(err)
	}
	c := Compare(res, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
	rows := map[string]ComparisonRow{}
	var order []string
	for _, r := range c.Rows {
		rows[r.Strategy] = r
		order = append(order, r.Strategy)
	}
	if strings.Join(order, ",") != "none,sticky,jwt" {
		t.Fatalf("rows %v", order)
	}
	if c.NoiseFloor == nil || c.NoiseFloor.P50 != 0.031 || !c.NoiseFloor.AAContainsOne || c.NoiseFloor.Source != "paired/20261121-220000/paired.md" {
		t.Errorf("noise floor %+v", c.NoiseFloor)
	}
	jwt, sticky, none := rows["jwt"], rows["sticky"], rows["none"]
	if jwt.Latency == nil || !jwt.Latency.Finding || !strings.Contains(jwt.Latency.Label, "slower") {
		t.Errorf("jwt latency %+v", jwt.Latency)
	}
	if sticky.Latency == nil || sticky.Latency.Finding || !strings.Contains(sticky.Latency.Label, "within noise") {
		t.Errorf("sticky latency below 1 without its label: %+v", sticky.Latency)
	}
	if none.Latency != nil {
		t.Errorf("control has a ratio: %+v", none.Latency)
	}
	if v := jwt.CPUPerRequest; v == nil || v.Kind != "marginal" || v.Value != 41.25 || v.Source != "jwt/20261121-233000-jwt/report.md" {
		t.Errorf("jwt CPU %+v, want the cost run's marginal figure", v)
	}
	if v := sticky.CPUPerRequest; v == nil || v.Kind != "gross" || v.Value != 1388.9 {
		t.Errorf("sticky CPU %+v, want steady's gross figure", v)
	}
	if v := jwt.SessionsLostOnCrash; v == nil || v.Value != 0 || v.Source != "jwt/20261121-230000-jwt/report.md" {
		t.Errorf("jwt sessions lost %+v, want the older run that ran failover", v)
	}
	if v := sticky.SessionsLostOnCrash; v == nil || v.Value != 10 || v.Note != "of 30 users" {
		t.Errorf("sticky sessions lost %+v", v)
	}
	if v := sticky.MemoryPerSession; v == nil || v.Kind != "gateway heap" || v.Value != 812.5 {
		t.Errorf("sticky memory %+v", v)
	}
	if v := jwt.MemoryPerSession; v == nil || v.Kind != "redis" || v.Value != 10240 {
		t.Errorf("jwt memory %+v", v)
	}
	// A strategy keeping its sessions in Redis is read from Redis even
	// when the gateways' heap was measured too (it goes in the note).
	if cell := memoryCell("jwt", Memory{PerSessionBytes: 1900, GatewayHeapPerSessionBytes: Float(210)}, "x"); cell.Kind != "redis" ||
		cell.Value != 1900 || cell.Note != "gateway heap 210 B" {
		t.Errorf("jwt memory with a heap figure: %+v", cell)
	}
	// Without a heap figure, sessions held in the gateway are not
	// reported as Redis's 0 bytes.
	res.Reports[len(res.Reports)-1].Report.Memory.GatewayHeapPerSessionBytes = nil
	for i := range res.Reports {
		if res.Reports[i].Report.Strategy == "sticky" {
			res.Reports[i].Report.Memory.GatewayHeapPerSessionBytes = nil
		}
	}
	for _, r := range Compare(res, time.Now()).Rows {
		if r.Strategy == "sticky" && r.MemoryPerSession != nil {
			t.Errorf("sticky memory without a heap figure: %+v", r.MemoryPerSession)
		}
	}
	if v := jwt.RevocationLagP99; v == nil || v.P99Ms != nil || v.NotRevoked != 15 {
		t.Errorf("jwt revocation %+v", v)
	}
	if v := sticky.RedisOutage; v == nil || !strings.Contains(v.Summary, "unaffected") || !strings.Contains(v.Summary, "7 sessions lost") {
		t.Errorf("sticky outage %+v", v)
	}
	if v := none.RedisOutage; v != nil {
		t.Errorf("none outage %+v, want none (not run)", v)
	}
	if v := jwt.CredentialBytes; v == nil || v.Value != 412 {
		t.Errorf("jwt credential bytes %+v", v)
	}
	if c.Check != nil {
		t.Errorf("consistency check with one paired run: %+v", c.Check)
	}
}

func TestRenderComparisonGolden(t *testing.T) {
	res, _, err := ReadResults(fixtureResults(t))
	if err != nil {
		t.Fatal(err)
	}
	c := Compare(res, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
	var b bytes.Buffer
	if err := RenderComparison(&b, c); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	if !strings.HasPrefix(md, "# authlab — strategies compared\n\n**Noise floor: ±3.10%**") {
		t.Errorf("COMPARISON.md does not open with the noise floor:\n%s", md[:min(300, len(md))])
	}
	if n := strings.Count(md, "\n|---|"); n != 2 {
		t.Errorf("%d tables, want the verdict table and the runs table", n)
	}
	golden(t, "comparison.golden.md", b.Bytes())
}

func TestConsistencyCheck(t *testing.T) {
	dir := fixtureResults(t)
	// A later run in which jwt's interval lies below 1: it contradicts the
	// earlier finding that jwt is slower.
	later := pairedFixture("20261121-221000", time.Date(2026, 11, 21, 22, 10, 0, 0, time.UTC),
		ratio(0.97, 0.95, 0.99, 40, MethodSeconds, 0.031, stats.WithinNoise))
	writePaired(t, dir, later)
	res, _, err := ReadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := Compare(res, time.Now())
	if c.Paired.RunID != "20261121-221000" || c.Check == nil {
		t.Fatalf("paired %+v, check %+v", c.Paired, c.Check)
	}
	if len(c.Check.Contradictions) != 1 || !strings.Contains(c.Check.Contradictions[0], "jwt p50") || c.Check.Compared != 3 {
		t.Errorf("contradictions %v (compared %d), want jwt's", c.Check.Contradictions, c.Check.Compared)
	}
	if c.Check.AAContainsOne != [2]bool{true, true} {
		t.Errorf("A/A contains 1: %v", c.Check.AAContainsOne)
	}
	// Agreeing runs: no contradiction.
	dir2 := fixtureResults(t)
	writePaired(t, dir2, pairedFixture("20261121-221000", time.Date(2026, 11, 21, 22, 10, 0, 0, time.UTC),
		ratio(1.09, 1.0, 1.2, 40, MethodSeconds, 0.031, stats.WithinNoise)))
	res, _, _ = ReadResults(dir2)
	if c := Compare(res, time.Now()); c.Check == nil || len(c.Check.Contradictions) != 0 {
		t.Errorf("agreeing runs: %+v", c.Check)
	}
}

func TestWriteComparison(t *testing.T) {
	if _, _, _, err := WriteComparison(t.TempDir(), time.Now()); err == nil {
		t.Fatal("WriteComparison on an empty dir succeeded")
	}
	dir := fixtureResults(t)
	c, path, _, err := WriteComparison(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, filepath.Join(dir, ComparisonJSONFile), filepath.Join(dir, ComparisonOverviewChart)} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, ComparisonJSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var back Comparison
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.SchemaVersion != ComparisonSchemaVersion || len(back.Rows) != len(c.Rows) || back.Rows[2].Latency.Ratio.Est != 1.12 ||
		back.Rows[2].Latency.Ratio.Verdict != stats.Slower {
		t.Errorf("COMPARISON.json round trip: %+v", back.Rows)
	}
	if !strings.Contains(string(b), `"latency_overhead_p50"`) || !strings.Contains(string(b), `"noise_floor"`) {
		t.Errorf("COMPARISON.json lacks its documented fields")
	}
}

// TestCompareFallsBackToThePairedRun: a strategy measured only in the
// paired run still gets its gross CPU and credential bytes from it.
func TestCompareFallsBackToThePairedRun(t *testing.T) {
	p := pairedFixture("20261121-220000", time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC), ratio(1.12, 1.08, 1.17, 40, MethodSeconds, 0.031, stats.Slower))
	for i := range p.Rounds {
		p.Rounds[i].Pools = []PoolRound{{Pool: "jwt", Strategy: "jwt", Requests: 100, CredentialBytes: 353, GatewayCPUPerRequestUs: float64(300 + 10*i)}}
	}
	c := Compare(Results{Paired: []LocatedPaired{{Run: p, Dir: "paired/20261121-220000"}}}, time.Now())
	var jwt *ComparisonRow
	for i := range c.Rows {
		if c.Rows[i].Strategy == "jwt" {
			jwt = &c.Rows[i]
		}
	}
	if jwt == nil || jwt.CPUPerRequest == nil || jwt.CPUPerRequest.Kind != "gross" || jwt.CPUPerRequest.Value != 305 ||
		jwt.CredentialBytes == nil || jwt.CredentialBytes.Value != 353 || jwt.SessionsLostOnCrash != nil {
		t.Errorf("jwt row from the paired run alone: %+v", jwt)
	}
}

// TestCompareSummarisesABatch: the event cells are the median over the
// runs of a strategy's latest batch (make bench-all's event rounds), with
// their range; an older batch does not count.
func TestCompareSummarisesABatch(t *testing.T) {
	run := func(lost int, batch, dir string) Located {
		r := fixture("jwt", 5, 100, lost)
		r.Settings.Batch = batch
		return Located{Report: r, Dir: dir}
	}
	res := Results{Reports: []Located{run(2, "b2", "jwt/3"), run(4, "b2", "jwt/2"), run(9, "b1", "jwt/1")}}
	c := Compare(res, time.Now())
	if len(c.Rows) != 1 {
		t.Fatalf("rows %+v", c.Rows)
	}
	lost := c.Rows[0].SessionsLostOnCrash
	if lost == nil || lost.Value != 3 || lost.Rounds != 2 || *lost.Min != 2 || *lost.Max != 4 || !strings.Contains(lost.Source, "jwt/3") {
		t.Errorf("sessions lost = %+v, want the median 3 of the two runs of batch b2 [2–4], linked to the newest", lost)
	}
	if rv := c.Rows[0].RevocationLagP99; rv == nil || rv.Rounds != 2 || rv.Pairs != 30 {
		t.Errorf("revocation = %+v, want 2 rounds, 30 pairs", rv)
	}
	if got := lostText(lost); !strings.Contains(got, "median of 2 rounds, 2–4") {
		t.Errorf("rendered %q", got)
	}
	// Without a batch, a run stands alone.
	single := Compare(Results{Reports: []Located{run(2, "", "jwt/3"), run(4, "", "jwt/2")}}, time.Now())
	if l := single.Rows[0].SessionsLostOnCrash; l.Value != 2 || l.Rounds != 0 {
		t.Errorf("unbatched = %+v, want the newest run alone", l)
	}
}

// TestReadResultsSkipsSweeps: a sweep's runs (non-default settings) are
// not read by compare.
func TestReadResultsSkipsSweeps(t *testing.T) {
	dir := t.TempDir()
	for _, rel := range []string{"jwt/r1", "sweeps/s1/runs/jwt/r2"} {
		if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := fixture("jwt", 5, 100, 0).WriteJSON(filepath.Join(dir, rel, "report.json")); err != nil {
			t.Fatal(err)
		}
	}
	res, _, err := ReadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Reports) != 1 || res.Reports[0].Dir != "jwt/r1" {
		t.Errorf("reports %+v, want jwt/r1 only", res.Reports)
	}
}
