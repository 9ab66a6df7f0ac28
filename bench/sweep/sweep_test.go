package sweep

import (
	"math"
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
	Render(&b, sw, map[string]bool{KindCache: true})
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

func TestMeasureJWTFields(t *testing.T) {
	r := &report.Report{
		Scenarios: []report.Scenario{{Name: "steady", Requests: 2000, DurationS: 10, CredentialBytes: 420.5,
			Gateway: report.Gateway{CPUPerRequestUs: 88}, SessionsLost: 3, Relogins: 3}},
		Micro: &report.Micro{NsPerOp: 71000, AllocsPerOp: 60},
	}
	res := measure(Point{Label: "EdDSA", Kind: KindAlg, Round: 2}, r, "runs/jwt/1")
	if res.CredentialBytes != 420.5 || res.GatewayCPUUsPerRequest != 88 || res.SessionsLost != 3 || res.Requests != 2000 ||
		res.MicroNsPerOp == nil || *res.MicroNsPerOp != 71000 || *res.MicroAllocsPerOp != 60 {
		t.Fatalf("measure = %+v", res)
	}
}

func TestParseKinds(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"all", []string{KindDenylist, KindAlg, KindAccessTTL}, ""},
		{"alg", []string{KindAlg}, ""},
		{"access-ttl, denylist", []string{KindDenylist, KindAccessTTL}, ""}, // run in a fixed order
		{"", nil, "empty"},
		{"cache", nil, `"cache" is not a jwt sweep`},
		{"alg,alg", nil, "given twice"},
		{"alg,", nil, `"" is not a jwt sweep`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseKinds(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseKinds(%q) = %v, %v; want error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("ParseKinds(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseDurations(t *testing.T) {
	got, err := ParseDurations("--access-ttls", "1m, 5m,15m")
	if err != nil || !slices.Equal(got, []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "5", "-1m", "0s", "1m,,5m"} {
		if _, err := ParseDurations("--access-ttls", bad); err == nil || !strings.Contains(err.Error(), "--access-ttls") {
			t.Errorf("%q: error %v, want one naming the flag", bad, err)
		}
	}
}

func defaultJWT() JWTConfig {
	return JWTConfig{Kinds: JWTKinds, Duration: 8 * time.Second, DenylistAccessTTL: 15 * time.Second, Repeat: 3,
		AccessTTLs: []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}, TimeScale: 60, RefreshAhead: 10 * time.Second}
}

func TestJWTPoints(t *testing.T) {
	ps, err := JWT(defaultJWT())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Kind+"|"+p.Label+"|"+strings.Join(p.GatewayArgs, " "))
	}
	want := []string{
		"denylist|denylist off|--access-ttl 15s",
		"denylist|denylist on|--access-ttl 15s --jwt-denylist",
		// Interleaved: drift hits both algorithms alike.
		"alg|HS256|--jwt-alg HS256", "alg|EdDSA|--jwt-alg EdDSA",
		"alg|HS256|--jwt-alg HS256", "alg|EdDSA|--jwt-alg EdDSA",
		"alg|HS256|--jwt-alg HS256", "alg|EdDSA|--jwt-alg EdDSA",
		"access-ttl|ttl 1m|--access-ttl 1s",
		"access-ttl|ttl 5m|--access-ttl 5s",
		"access-ttl|ttl 15m|--access-ttl 15s",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("points:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, p := range ps {
		switch p.Kind {
		case KindDenylist, KindAccessTTL:
			ttl := time.Duration(p.AccessTTLS * float64(time.Second))
			// The polling outlasts the token's life and the leeway: a lag
			// without the denylist is seen, not cut off.
			if p.RevocationTimeout <= ttl+JWTLeeway {
				t.Errorf("%s: revocation timeout %v for a %v token", p.Label, p.RevocationTimeout, ttl)
			}
			if p.RevocationSpread != ttl {
				t.Errorf("%s: logouts spread over %v, want the token's lifetime %v", p.Label, p.RevocationSpread, ttl)
			}
		case KindAlg:
			if !p.Micro || !slices.Equal(p.Scenarios, []string{"steady"}) || p.Round < 1 {
				t.Errorf("%s: micro %v, scenarios %v, round %d", p.Label, p.Micro, p.Scenarios, p.Round)
			}
		}
		if p.Kind == KindAccessTTL {
			if p.TimeScale != 60 {
				t.Errorf("%s: time scale %v", p.Label, p.TimeScale)
			}
			if math.Abs(p.RefreshAheadS-10.0/60) > 1e-9 {
				t.Errorf("%s: refresh ahead %v s as run, want 10 s real at 60×", p.Label, p.RefreshAheadS)
			}
			// Refreshes are counted over at least two lifetimes.
			if ttl := time.Duration(p.AccessTTLS * float64(time.Second)); p.Duration < 2*ttl {
				t.Errorf("%s: steady %v for a %v token", p.Label, p.Duration, ttl)
			}
		}
	}
}

func TestJWTConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*JWTConfig)
		wantErr string
	}{
		{"no kind", func(c *JWTConfig) { c.Kinds = nil }, "no sweep kind"},
		{"denylist token dies during steady", func(c *JWTConfig) { c.DenylistAccessTTL = 8 * time.Second }, "--denylist-access-ttl 8s must exceed --duration 8s"},
		{"denylist ttl not whole seconds", func(c *JWTConfig) { c.DenylistAccessTTL = 12500 * time.Millisecond }, "whole seconds"},
		{"repeat zero", func(c *JWTConfig) { c.Repeat = 0 }, "--repeat 0"},
		{"scale below one", func(c *JWTConfig) { c.TimeScale = 0.5 }, "--time-scale 0.5"},
		{"scale NaN", func(c *JWTConfig) { c.TimeScale = math.NaN() }, "--time-scale NaN"},
		{"ttl below a second once scaled", func(c *JWTConfig) { c.AccessTTLs = []time.Duration{30 * time.Second} }, "--access-ttls 30s at --time-scale 60 runs as 500ms"},
		{"ttl not whole seconds once scaled", func(c *JWTConfig) { c.AccessTTLs = []time.Duration{90 * time.Second} }, "runs as 1.5s"},
		{"no ttl", func(c *JWTConfig) { c.AccessTTLs = nil }, "--access-ttls: no lifetime"},
		{"refresh ahead of the whole lifetime", func(c *JWTConfig) { c.RefreshAhead = time.Minute }, "--refresh-ahead 1m0s: want more than 0 and less than the shortest --access-ttls 1m0s"},
		{"no refresh ahead", func(c *JWTConfig) { c.RefreshAhead = 0 }, "--refresh-ahead 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultJWT()
			tt.edit(&c)
			_, err := JWT(c)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one with %q", err, tt.wantErr)
			}
		})
	}
	// A flag of a kind not run is not checked.
	c := defaultJWT()
	c.Kinds, c.Repeat, c.TimeScale = []string{KindDenylist}, 0, 0
	if _, err := JWT(c); err != nil {
		t.Errorf("denylist alone: %v", err)
	}
}

func TestRealLagS(t *testing.T) {
	tests := []struct {
		lagMs, scale, want float64
	}{
		{5000, 60, 5},          // the leeway only: the token had just expired
		{6000, 60, 65},         // 1 s of remaining life at 60× is a minute, + 5 s
		{20000, 60, 905},       // 15 s → 15 min, + 5 s
		{3000, 60, 5},          // within the leeway: no remaining life
		{6000, 1, 6},           // no scaling
		{5500, 10, 5 + 0.5*10}, // half a second at 10×
	}
	for _, tt := range tests {
		if got := RealLagS(tt.lagMs, tt.scale); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("RealLagS(%v, %v) = %v, want %v", tt.lagMs, tt.scale, got, tt.want)
		}
	}
}

// jwtSweep is a fixed jwt sweep: every kind, numbers made up.
func jwtSweep() *Sweep {
	ps, _ := JWT(defaultJWT())
	var rs []Result
	for i, p := range ps {
		r := Result{Point: p, Run: "runs/jwt/" + string(rune('a'+i)), P50Ms: 2 + float64(i)/10, P99Ms: 9, Pairs: 60, TimeoutS: 25,
			CredentialBytes: 400, GatewayCPUUsPerRequest: 90, RedisCommandsPerRequest: report.Float(0)}
		switch {
		case p.Label == "denylist off":
			r.RevocationP50Ms, r.RevocationP99Ms = report.Float(12500), report.Float(19800)
			r.Sampled = 10
		case p.Label == "denylist on":
			r.RevocationP50Ms, r.RevocationP99Ms = report.Float(3), report.Float(8)
			r.RedisCommandsPerRequest = report.Float(1.02)
		case p.Label == "HS256":
			r.MicroNsPerOp = report.Float(9000 + float64(p.Round)*100)
			r.MicroAllocsPerOp = new(int64)
			r.CredentialBytes = 380
		case p.Label == "EdDSA":
			r.MicroNsPerOp = report.Float(72000 + float64(p.Round)*1000)
			r.CredentialBytes = 423
		case p.Kind == KindAccessTTL:
			ttl := p.AccessTTLS * 1000
			r.RevocationP50Ms, r.RevocationP99Ms = report.Float(5000+ttl/2), report.Float(5000+ttl*0.98)
			r.Users, r.Rate, r.DurationS, r.Sampled = 200, 200, 2*p.AccessTTLS+2, 20
			r.Refreshes = int(200 * r.DurationS / p.AccessTTLS)
			r.RefreshIntervalMeanMs = report.Float(ttl + 400)
		}
		rs = append(rs, r)
	}
	rs[0].LoadAvg, rs[1].LoadAvg = report.Float(3.2), report.Float(0.5)
	return &Sweep{ID: "20260101-000000", Strategy: "jwt", Kinds: JWTKinds, Points: rs}
}

func TestRenderJWT(t *testing.T) {
	sw := jwtSweep()
	var b strings.Builder
	Render(&b, sw, map[string]bool{KindDenylist: true, KindAlg: true, KindAccessTTL: true})
	md := b.String()
	for _, want := range []string{
		"## jwt: denylist off and on",
		"| denylist off | 12500 ms | 19800 ms | 0 of 60 (25 s) | 0 |",
		"| denylist on | 3 ms | 8 ms | 0 of 60 (25 s) | 1.02 |",
		"![jwt denylist", ChartFile(KindDenylist),
		// 10 users over a 15 s lifetime: 14.25 s remaining at most, + 5 s.
		"the longest remaining life is 14.25 s and the p99 about 19.25 s",
		"## jwt: HS256 against EdDSA",
		// The micro-benchmark: median over the runs, the range, the ratio.
		"| HS256 | 9200 | 9100–9300 (3 runs) | 1× | 1× | 0 |",
		// 74000/9200 and 73000/9100.
		"| EdDSA | 74000 | 73000–75000 (3 runs) | 8.04× | 8.02× | – |",
		"separate runs, not a verdict",
		"| HS256 | 3 | 2.40 (2.20–2.60) |",
		"| 380 |", "| 423 |",
		"[EdDSA #3](runs/jwt/h/report.md)",
		"## jwt: access-token lifetime",
		"**60× as fast**",
		// 1 s as run: 5.5 s p50 → 0.5 s × 60 + 5 s = 35 s real.
		"| ttl 1m (1 min) | 1 s | 5.50 / 5.98 s | 35 s / 1 min 4 s | 1 min 4 s |",
		// Expected p99: 20 users at the midpoints of 20 slices of 15 min:
		// 0.975 × 900 s + 5 s = 14 min 43 s.
		"| ttl 15m (15 min) | 15 s | 12.50 / 19.70 s | 7 min 35 s / 14 min 47 s | 14 min 43 s |",
		"machine had a 1-minute load average of 0.5–3.20 as the points started",
		"every 1 min real", "10 s real",
		// 15 s TTL, 32 s steady: 426 refreshes, 13.3/s as run, ÷ 60 real;
		// 15.4 s between a user's refreshes as run is 924 s real: 3.90 an
		// hour. Expected: 15 − 0.5 − 1/6 + 0.5 = 14.83 s as run; in real
		// time 900 − 0.5 − 10 + 30 = 919.5 s: 3.92 an hour.
		"| ttl 15m (15 min) | 15 s | 426 (0) | 13.31 → 0.222 | 15.40 s (14.83 s) | 3.90 (3.92) | 1.08 | 0 |",
		// 1 s TTL: expected as run (5/6)²/2 + 0.5 = 0.847 s.
		"| 1.40 s (0.847 s) |",
		ChartFile(KindAccessTTL),
	} {
		if !strings.Contains(md, want) {
			t.Errorf("sweep.md lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "| point | revocation lag p99 | not revoked at the timeout | Redis commands / request | p50 ms | p99 ms | run |") {
		t.Error("a jwt sweep renders the opaque cache's table")
	}
}

func TestWriteJWTCharts(t *testing.T) {
	dir := t.TempDir()
	if err := write(dir, jwtSweep()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"sweep.json", "sweep.md", ChartFile(KindDenylist), ChartFile(KindAlg), ChartFile(KindAccessTTL)} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "sweep.md"))
	if strings.Contains(string(md), FrontierChartFile) {
		t.Error("a jwt sweep links the opaque frontier chart")
	}
}

func TestExpectedRefreshPeriodS(t *testing.T) {
	tests := []struct {
		name                   string
		ttl, margin, gap, want float64
	}{
		{"long token: mean lifetime less the margin, plus half a gap", 15, 0.5, 1, 14 + 0.5},
		{"lifetime can fall under the margin", 1, 0.5, 0, 0.125},
		{"margin beyond every lifetime: at the next request", 1, 2, 1, 0.5},
		{"real time: a second of resolution is little", 900, 10, 60, 889.5 + 30},
	}
	for _, tt := range tests {
		if got := ExpectedRefreshPeriodS(tt.ttl, tt.margin, tt.gap); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: ExpectedRefreshPeriodS(%v, %v, %v) = %v, want %v", tt.name, tt.ttl, tt.margin, tt.gap, got, tt.want)
		}
	}
}

func TestChartErrors(t *testing.T) {
	sw := &Sweep{Strategy: "jwt", Kinds: []string{KindAlg}}
	if err := SaveChart(sw, KindAlg, filepath.Join(t.TempDir(), "x.png")); err == nil {
		t.Error("an alg chart without a point was drawn")
	}
	if err := SaveChart(sw, "nope", filepath.Join(t.TempDir(), "x.png")); err == nil {
		t.Error("a chart of an unknown kind was drawn")
	}
}
