package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// comparisonFixture: none, sticky (loses sessions), jwt (revocation lag).
func comparisonFixture() []*Report {
	none := fixture("none", 2, 100, 0)
	none.Scenarios = none.Scenarios[:1]
	none.Scenarios[0].Latency.P50 = 1
	sticky := fixture("sticky", 4, 100, 10)
	jwt := fixture("jwt", 3, 100, 0)
	jwt.Scenarios[0].CredentialBytes = 412
	jwt.Scenarios[0].RedisCommandsPerRequest = Float(0)
	jwt.Scenarios[3].Revocation.NotRevoked = 15
	jwt.Scenarios[3].Revocation.Lag = Percentiles{}
	sticky.Scenarios[2] = Scenario{Name: "redis-outage", SessionsLost: 7, RedisOutage: &RedisOutage{DuringRequests: 300, DuringOK: 300, RecoveryS: Float(2)}}
	jwt.Scenarios[2] = Scenario{Name: "redis-outage", RedisOutage: &RedisOutage{DuringRequests: 300, DuringOK: 300, RecoveryS: Float(0)}}
	return []*Report{none, sticky, jwt}
}

func TestLatestReportsPicksNewestPerStrategyInOrder(t *testing.T) {
	dir := t.TempDir()
	for _, r := range comparisonFixture() {
		writeReport(t, dir, r)
	}
	old := fixture("jwt", 99, 100, 0)
	old.RunID, old.StartedAt = "older", old.StartedAt.Add(-time.Hour)
	writeReport(t, dir, old)
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
	want := "none:20261121-230000-none sticky:20261121-230000-sticky jwt:20261121-230000-jwt"
	if strings.Join(got, " ") != want {
		t.Errorf("LatestReports = %v, want %s", got, want)
	}
	if len(warnings) != 1 {
		t.Errorf("warnings = %v, want one for the broken report", warnings)
	}
}

func TestCompareVerdicts(t *testing.T) {
	rows := Compare(comparisonFixture())
	byName := map[string]Row{}
	for _, r := range rows {
		byName[r.Strategy] = r
	}
	if r := byName["sticky"]; r.P50Ratio == nil || *r.P50Ratio != 1.2 || *r.SessionsLost != 10 ||
		!strings.Contains(r.Verdict, "instance crash logs out its users") {
		t.Errorf("sticky row = %+v", r)
	}
	if r := byName["jwt"]; *r.SessionsLost != 0 || !strings.Contains(r.Verdict, "survives an instance crash") ||
		!strings.Contains(r.Verdict, "logout is not immediate") || !strings.Contains(r.Verdict, "412-byte credential") ||
		!strings.Contains(r.Verdict, "does not notice a Redis outage") {
		t.Errorf("jwt verdict = %q", r.Verdict)
	}
	if r := byName["sticky"]; !strings.Contains(r.Verdict, "keeps serving while Redis is down, but 7 sessions were lost when Redis came back empty") {
		t.Errorf("sticky verdict = %q", r.Verdict)
	}
	if r := byName["none"]; !strings.HasPrefix(r.Verdict, "Control group") {
		t.Errorf("none verdict = %q", r.Verdict)
	}
}

func TestRenderComparisonGolden(t *testing.T) {
	reports := comparisonFixture()
	var b bytes.Buffer
	if err := RenderComparison(&b, reports, Compare(reports)); err != nil {
		t.Fatal(err)
	}
	golden(t, "comparison.golden.md", b.Bytes())
}

func TestWriteComparison(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := WriteComparison(dir); err == nil {
		t.Fatal("WriteComparison on an empty dir succeeded")
	}
	for _, r := range comparisonFixture() {
		writeReport(t, dir, r)
	}
	path, _, err := WriteComparison(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, filepath.Join(dir, CompareLatencyChart), filepath.Join(dir, CompareRevokeChart)} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
}
