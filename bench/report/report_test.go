package report

import (
	"bytes"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file; got:\n%s", name, got)
	}
}

// fixture builds a report with every section filled.
func fixture(strategy string, p99, rate float64, lost int) *Report {
	start := time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC)
	tl := make([]Second, 9)
	for i := range tl {
		tl[i] = Second{T: i, Requests: 100, OK: 100, P50: 1.2, P99: p99, Max: p99 * 2}
	}
	tl[3].OK, tl[3].Errors.SessionLost, tl[3].SessionLost = 90, 10, 10
	return &Report{
		SchemaVersion: SchemaVersion,
		RunID:         "20261121-230000-" + strategy,
		Strategy:      strategy,
		StartedAt:     start,
		FinishedAt:    start.Add(40 * time.Second),
		Settings: Settings{Strategy: strategy, Policy: "sticky", Instances: 3, Users: 30, Rate: rate, DurationS: 9,
			Scenarios: []string{"steady", "failover", "redis-outage", "revocation", "capacity"}, BcryptCost: 4, Path: "/api/me",
			CapacityP99Ms: 50, Flags: map[string]string{"rate": "100", "strategy": strategy}},
		Environment: Environment{OS: "linux", Arch: "amd64", Kernel: "6.1.0", CPUModel: "AMD EPYC", CPUs: 2,
			GoVersion: "go1.26.8", RedisKind: "redis-server", RedisVersion: "7.0.15", GitCommit: "248d349", GitDirty: true},
		Login:  Login{Users: 30, Latency: Percentiles{Count: 30, P50: 2.5, P99: 4}},
		Memory: Memory{GatewayRSSDeltaBytes: 300 * 1024, RedisUsedDeltaBytes: 0, PerSessionBytes: 10240},
		Scenarios: []Scenario{
			{Name: "steady", DurationS: 9, RequestedRate: rate, AchievedRate: rate - 0.1, Requests: 900, OK: 900,
				Latency:  Percentiles{Count: 900, Mean: 1.3, P50: 1.2, P90: 2, P99: p99, P999: p99 + 1, Max: 2 * p99},
				Timeline: tl[:0:0], CredentialBytes: 62, RedisCommandsPerRequest: Float(1.5),
				RedisCommands: map[string]int64{"get": 900, "set": 450}, Gateway: Gateway{CPUSeconds: 1.25, CPUPerRequestUs: 1388.9, PeakRSSBytes: 20 << 20}},
			{Name: "failover", DurationS: 9, RequestedRate: rate, AchievedRate: rate, Requests: 900, OK: 890,
				Latency: Percentiles{Count: 900, P50: 1.2, P90: 2, P99: p99, P999: p99 + 1, Max: 2 * p99},
				Errors:  Errors{SessionLost: lost, Transport: 10 - lost}, Timeline: tl,
				Events:       []Event{{Type: "kill", AtS: 3, Instance: "gw2"}, {Type: "revive", AtS: 6, Instance: "gw2"}},
				SessionsLost: lost, SessionsLostByInstance: map[string]int{"gw2": lost}, Relogins: lost,
				ReloginLatency: Percentiles{Count: lost, P50: 3, P99: 5}, CredentialBytes: 62,
				Failover: &Failover{KilledInstance: "gw2", KillAtS: 3, ReviveAtS: 6, PinnedUsers: []string{"user0002"},
					LostUsers: []string{"user0002"}, PinnedAndLost: 1, SessionsLost: lost, RecoveryS: Recovery(tl, 3), DeadInstanceRequests: 10 - lost, WindowErrors: 10}},
			{Name: "redis-outage", Skipped: true, SkipReason: "REDIS_URL is external"},
			{Name: "revocation", Revocation: &Revocation{Sampled: 5, Instances: 3, Pairs: 15, TimeoutS: 5,
				Lag: Percentiles{Count: 15, P50: 0.5, P99: 1, Max: 1}}},
			{Name: "capacity", Capacity: &Capacity{BoundP99Ms: 50, MaxRate: 400,
				Steps: []CapacityStep{{Rate: 200, Achieved: 200, P99: 5, Pass: true}, {Rate: 400, Achieved: 399.5, P99: 20, Pass: true}, {Rate: 800, Achieved: 700, P99: 80, ErrorRate: 0.02}}}},
		},
	}
}

func TestRenderMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	if err := RenderMarkdown(&b, fixture("sticky", 4.5, 100, 10)); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden.md", b.Bytes())
}

func TestWriteChartsArePNGs(t *testing.T) {
	dir := t.TempDir()
	files, err := WriteCharts(dir, fixture("jwt", 3, 100, 0))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, PercentilesChartFile), filepath.Join(dir, LatencyChartFile("failover"))}
	if len(files) != len(want) {
		t.Fatalf("files = %v, want %v", files, want)
	}
	for i, f := range files {
		if f != want[i] {
			t.Errorf("file %d = %s, want %s", i, f, want[i])
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
			t.Errorf("%s: %v too small", f, b)
		}
	}
}

func TestJSONRoundTripAndVersion(t *testing.T) {
	dir := t.TempDir()
	r := fixture("jwt", 3, 100, 0)
	path := filepath.Join(dir, "report.json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Scenario("failover").Failover.KilledInstance != "gw2" || got.SchemaVersion != SchemaVersion {
		t.Errorf("round trip lost data: %+v", got.Scenario("failover"))
	}
	r.SchemaVersion = 99
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadJSON(path); err == nil {
		t.Error("ReadJSON accepted schema_version 99")
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadJSON(path); err == nil {
		t.Error("ReadJSON accepted garbage")
	}
}

func TestSummarize(t *testing.T) {
	ds := make([]time.Duration, 1000)
	for i := range ds {
		ds[len(ds)-1-i] = time.Duration(i+1) * time.Millisecond
	}
	p := Summarize(ds)
	want := Percentiles{Count: 1000, Mean: 500.5, P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000}
	if p != want {
		t.Errorf("Summarize = %+v, want %+v", p, want)
	}
	if (Summarize(nil) != Percentiles{}) {
		t.Error("Summarize(nil) not zero")
	}
}

func TestRecovery(t *testing.T) {
	ok := Second{Requests: 100, OK: 100}
	bad := Second{Requests: 100, OK: 50}
	edge := Second{Requests: 100, OK: 99}
	below := Second{Requests: 1000, OK: 989}
	empty := Second{}
	tl := func(ss ...Second) []Second {
		for i := range ss {
			ss[i].T = i
		}
		return ss
	}
	tests := []struct {
		name string
		tl   []Second
		from float64
		want *float64
	}{
		{"never disturbed", tl(ok, ok, ok, ok, ok, ok, ok), 1.5, Float(0)},
		{"recovers after two bad seconds", tl(ok, bad, bad, ok, ok, ok, ok, ok), 1.25, Float(1.75)},
		{"99% counts as recovered", tl(ok, bad, edge, edge, edge, edge, edge), 1, Float(1)},
		{"98.9% does not", tl(ok, bad, below, ok, ok, ok, ok, ok), 1, Float(2)},
		{"a bad second resets the window", tl(bad, ok, ok, ok, ok, bad, ok, ok, ok, ok, ok), 0, Float(6)},
		{"empty seconds do not count", tl(bad, ok, ok, empty, ok, ok, ok, ok, ok), 0, Float(4)},
		{"not recovered", tl(bad, ok, ok, ok, ok), 0, nil},
		{"event after the end", tl(ok, ok), 5, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Recovery(tc.tl, tc.from)
			switch {
			case got == nil && tc.want == nil:
			case got == nil || tc.want == nil:
				t.Fatalf("Recovery = %v, want %v", got, tc.want)
			case *got != *tc.want:
				t.Fatalf("Recovery = %v, want %v", *got, *tc.want)
			}
		})
	}
}

func TestRenderNonStickyAndUnrevoked(t *testing.T) {
	r := fixture("jwt", 3, 100, 0)
	r.Settings.Policy = "round-robin"
	r.Scenarios[3].Revocation.Lag = Percentiles{}
	r.Scenarios[3].Revocation.NotRevoked = 15
	var b bytes.Buffer
	if err := RenderMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lb policy round-robin: nobody is pinned", "revocation lag none revoked; 15/15 pairs not revoked within 5 s"} {
		if !bytes.Contains(b.Bytes(), []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	if bytes.Contains(b.Bytes(), []byte("Users pinned to it")) {
		t.Error("round-robin report talks about pinned users")
	}
}
