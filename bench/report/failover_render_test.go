package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFailoverPhasesRenderAndChart: every failover phase (the first and
// its variants) gets a row in report.md and a timeline chart.
func TestFailoverPhasesRenderAndChart(t *testing.T) {
	tl := make([]Second, 6)
	for i := range tl {
		tl[i] = Second{T: i, Requests: 10, OK: 10}
	}
	tl[2].OK = 6
	phase := func(name, mode string, retry bool, det *float64, failed int) Scenario {
		return Scenario{Name: name, DurationS: 6, Requests: 60, OK: 60 - failed, Timeline: tl,
			Failover: &Failover{KilledInstance: "gw2", KillAtS: 2, ReviveAtS: 4, KillMode: mode, Retry: retry,
				DetectionS: det, DetectedBy: "passive: refused", FailedRequests: failed, DeadInstanceRequests: failed}}
	}
	first := phase("failover", "crash", false, Float(0.15), 4)
	first.Failover.Variants = []Scenario{phase("failover-crash-retry", "crash", true, Float(0.2), 0), phase("failover-freeze-noretry", "freeze", false, nil, 0)}
	r := &Report{Strategy: "jwt", Scenarios: []Scenario{first}, Settings: Settings{Policy: "round-robin"}}
	dir := t.TempDir()
	files, err := WriteCharts(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"failover-crash-noretry", "failover-crash-retry", "failover-freeze-noretry"} {
		path := filepath.Join(dir, FailoverChartFile(name))
		if st, err := os.Stat(path); err != nil || st.Size() == 0 {
			t.Errorf("chart %s: %v", name, err)
		}
		if !strings.Contains(strings.Join(files, " "), path) {
			t.Errorf("WriteCharts did not list %s", path)
		}
	}
	var b strings.Builder
	if err := RenderMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| crash | off | 0.150 s | passive: refused | 4 |",
		"| crash | on | 0.200 s |",
		"| freeze | off | none before the revive |",
		"](failover-freeze-noretry-timeline.png)",
		"crashed (SIGKILL from outside the lb",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if note := failoverNote(first.Failover); !strings.Contains(note, "crash/retry on: detection 0.200 s, 0 to the dead instance, 0 failed") {
		t.Errorf("summary note %q", note)
	}
}
