package sweep

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/report"
)

func TestOpaqueCachePoints(t *testing.T) {
	ps := OpaqueCache([]time.Duration{time.Millisecond, 30 * time.Second})
	var labels []string
	for _, p := range ps {
		labels = append(labels, p.Label)
	}
	want := []string{"ttl 1ms", "ttl 30s", "ttl 1ms + pub/sub", "ttl 30s + pub/sub"}
	if !slices.Equal(labels, want) {
		t.Fatalf("labels %v, want %v", labels, want)
	}
	if got := strings.Join(ps[3].GatewayArgs, " "); got != "--opaque-cache-ttl 30s --opaque-pubsub" {
		t.Errorf("gateway args %q", got)
	}
	// The revocation timeout outlasts the TTL: a lag of ≈ the TTL is seen,
	// not cut off.
	if ps[1].RevocationTimeout <= 30*time.Second {
		t.Errorf("revocation timeout %v for a 30 s TTL", ps[1].RevocationTimeout)
	}
}

func TestMeasureAndRender(t *testing.T) {
	r := &report.Report{Scenarios: []report.Scenario{
		{Name: "steady", Latency: report.Percentiles{P50: 1.5, P99: 3}, RedisCommandsPerRequest: report.Float(0.25)},
		{Name: "revocation", Revocation: &report.Revocation{Pairs: 30, NotRevoked: 2, TimeoutS: 10, Lag: report.Percentiles{Count: 28, P99: 5100}}},
	}}
	res := measure(Point{Label: "ttl 5s"}, r, "runs/opaque/1")
	if res.P50Ms != 1.5 || *res.RedisCommandsPerRequest != 0.25 || *res.RevocationP99Ms != 5100 || res.NotRevoked != 2 || res.Pairs != 30 {
		t.Fatalf("measure = %+v", res)
	}
	none := measure(Point{Label: "ttl 30s"}, &report.Report{Scenarios: []report.Scenario{
		{Name: "revocation", Revocation: &report.Revocation{Pairs: 30, NotRevoked: 30, TimeoutS: 10}}}}, "runs/opaque/2")
	if none.RevocationP99Ms != nil {
		t.Errorf("no credential revoked, yet a lag: %v", *none.RevocationP99Ms)
	}
	sw := &Sweep{ID: "x", Strategy: "opaque", Points: []Result{res, none, {Point: Point{Label: "ttl 1ms"}, RedisCommandsPerRequest: report.Float(1), RevocationP99Ms: report.Float(2), Pairs: 30, TimeoutS: 6}}}
	var b strings.Builder
	Render(&b, sw, true)
	for _, want := range []string{"| ttl 5s | 5100 ms | 2 of 30", "| ttl 30s | none revoked | 30 of 30", "(runs/opaque/1/report.md)", FrontierChartFile} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("sweep.md lacks %q:\n%s", want, b.String())
		}
	}
	dir := t.TempDir()
	if err := write(dir, sw); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"sweep.json", "sweep.md", FrontierChartFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}
