package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ChartFile is the chart of a sweep kind, beside sweep.md.
func ChartFile(kind string) string {
	switch kind {
	case KindCache, "":
		return FrontierChartFile
	}
	return "sweep-" + kind + ".png"
}

// write saves sweep.json, sweep.md and a chart per kind into dir.
func write(dir string, sw *Sweep) error {
	b, err := json.MarshalIndent(sw, "", "  ")
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sweep.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	charts := map[string]bool{}
	var chartErrs []error
	for _, k := range sw.kinds() {
		if err := SaveChart(sw, k, filepath.Join(dir, ChartFile(k))); err != nil {
			chartErrs = append(chartErrs, err)
			continue
		}
		charts[k] = true
	}
	var md strings.Builder
	Render(&md, sw, charts)
	if err := os.WriteFile(filepath.Join(dir, "sweep.md"), []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return errors.Join(chartErrs...)
}

// kinds are the kinds of sw's points (sw.Kinds, else from the points).
func (sw *Sweep) kinds() []string {
	if len(sw.Kinds) > 0 {
		return sw.Kinds
	}
	ps := make([]Point, len(sw.Points))
	for i, r := range sw.Points {
		ps[i] = r.Point
	}
	return kindsOf(ps)
}

// of returns sw's results of kind.
func (sw *Sweep) of(kind string) []Result {
	var out []Result
	for _, r := range sw.Points {
		if kindOf(r.Point) == kind {
			out = append(out, r)
		}
	}
	return out
}

// Render writes sweep.md: the runs' shared settings, then a section per
// kind (a table, and a link to its chart when charts[kind]).
func Render(b *strings.Builder, sw *Sweep, charts map[string]bool) {
	fmt.Fprintf(b, "# authlab sweep — %s\n\n", sw.Strategy)
	fmt.Fprintf(b, "Sweep `%s`, %s (UTC): one full run per point (fresh topology each), %s req/s × %s s steady unless a section says otherwise, %d users, %d instances, commit %s. "+
		"Each row is a run of its own, measured one after the other: counts (revocation lag, Redis commands, refreshes) are stable; latency differences between runs are read only when large (on a shared machine sequential runs differ by tens of percent).\n\n",
		sw.ID, sw.Started.Format("2006-01-02 15:04:05"), fmtNum(sw.Settings.Rate), fmtNum(sw.Settings.DurationS), sw.Settings.Users, sw.Settings.Instances, sw.Env.GitCommit)
	var loads []float64
	for _, p := range sw.Points {
		if p.LoadAvg != nil {
			loads = append(loads, *p.LoadAvg)
		}
	}
	if len(loads) > 0 {
		cpus := ""
		if sw.Env.CPUs > 0 {
			cpus = fmt.Sprintf(" (%d CPUs, shared)", sw.Env.CPUs)
		}
		fmt.Fprintf(b, "The machine%s had a 1-minute load average of %s as the points started: the more above its CPUs, the more the latencies, CPU per request and even the micro-benchmark carry other work's waiting.\n\n", cpus, rangeText(loads))
	}
	for _, k := range sw.kinds() {
		rs := sw.of(k)
		switch k {
		case KindCache:
			renderCache(b, rs)
		case KindDenylist:
			renderDenylist(b, rs)
		case KindAlg:
			renderAlg(b, rs)
		case KindAccessTTL:
			renderAccessTTL(b, rs)
		}
		if charts[k] {
			fmt.Fprintf(b, "![%s](%s)\n\n", chartAlt(k), ChartFile(k))
		}
	}
}

func chartAlt(kind string) string {
	switch kind {
	case KindDenylist:
		return "jwt denylist: revocation lag against Redis commands per request"
	case KindAlg:
		return "jwt HS256 against EdDSA: Authenticate ns/op (micro-benchmark) and p50 of separate runs"
	case KindAccessTTL:
		return "jwt access TTL: refresh requests and revocation lag, scaled back to real time"
	}
	return "revocation lag against Redis commands per request"
}

func renderCache(b *strings.Builder, rs []Result) {
	b.WriteString("| point | revocation lag p99 | not revoked at the timeout | Redis commands / request | p50 ms | p99 ms | run |\n|---|---|---|---|---|---|---|\n")
	for _, p := range rs {
		fmt.Fprintf(b, "| %s | %s | %d of %d (%s s) | %s | %s | %s | [report](%s/report.md) |\n",
			p.Label, lagOrNone(p.RevocationP99Ms), p.NotRevoked, p.Pairs, fmtNum(p.TimeoutS), cmdsText(p), p50Text(p), fmtNum(p.P99Ms), p.Run)
	}
	b.WriteString("\nRevocation lag: a sample of users log out through the lb; every gateway is polled with the logged-out credential until it answers 401 (p99 over every (user, gateway) pair). ")
	b.WriteString("Without pub/sub the other gateways keep a cached token until its cache entry expires (lag ≈ the TTL); with pub/sub a logout reaches every cache at once, for one more Redis publish per logout. ")
	b.WriteString("A shorter TTL buys a shorter lag with more Redis lookups per request.\n\n")
}

func renderDenylist(b *strings.Builder, rs []Result) {
	b.WriteString("## jwt: denylist off and on (`--jwt-denylist`)\n\n")
	ttl := 0.0
	if len(rs) > 0 {
		ttl = rs[0].AccessTTLS
	}
	fmt.Fprintf(b, "Both points issue access tokens of %s s (`--access-ttl`; short, so that the run can wait one out, and longer than the steady phase, so that none expires during it). "+
		"Revocation: each sampled user logs in afresh, logs out after a delay spread evenly over the token's lifetime, and every gateway is polled with the logged-out token until it answers 401 (or the timeout).\n\n", fmtNum(ttl))
	b.WriteString("| point | revocation lag p50 | revocation lag p99 | not revoked at the timeout | Redis commands / request | p50 ms | p99 ms | sessions lost (steady) | run |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range rs {
		fmt.Fprintf(b, "| %s | %s | %s | %d of %d (%s s) | %s | %s | %s | %d | [report](%s/report.md) |\n",
			p.Label, lagOrNone(p.RevocationP50Ms), lagOrNone(p.RevocationP99Ms), p.NotRevoked, p.Pairs, fmtNum(p.TimeoutS), cmdsText(p), p50Text(p), fmtNum(p.P99Ms), p.SessionsLost, p.Run)
	}
	fmt.Fprintf(b, "\nWithout the denylist a logged-out access token works on every gateway until its exp plus the strategy's %s s clock-skew leeway: the lag is the token's remaining lifetime + %s s, so its p99 ≈ the TTL + %s s (with the default 5 min TTL: about 5 min). "+
		"Only the refresh token dies at logout. With the denylist every request costs one Redis lookup (the denylisted-token check) and a logout takes effect at once. "+
		"p50/p99: one run each, separate runs: read them only for large differences.\n\n", fmtNum(JWTLeeway.Seconds()), fmtNum(JWTLeeway.Seconds()), fmtNum(JWTLeeway.Seconds()))
	for _, p := range rs {
		if p.Sampled > 0 && p.AccessTTLS > 0 && !slices.Contains(p.GatewayArgs, "--jwt-denylist") {
			fmt.Fprintf(b, "Expected here without the denylist: %d users logging out at the midpoints of %d equal slices of the %s s lifetime, so the longest remaining life is %s s and the p99 about %s s.\n\n",
				p.Sampled, p.Sampled, fmtNum(p.AccessTTLS), fmtNum((1-0.5/float64(p.Sampled))*p.AccessTTLS), fmtNum(expectedLagP99S(p.AccessTTLS, p.Sampled)))
			break
		}
	}
}

// algStats summarises the runs of one algorithm.
type algStats struct {
	alg                   string
	runs                  []Result
	micro, p50, p99, cpu  []float64
	credBytes             []float64
	allocs                []int64
	saturated, lostInRuns int
}

func algGroups(rs []Result) []*algStats {
	var out []*algStats
	for _, r := range rs {
		i := slices.IndexFunc(out, func(g *algStats) bool { return g.alg == r.Label })
		if i < 0 {
			out = append(out, &algStats{alg: r.Label})
			i = len(out) - 1
		}
		g := out[i]
		g.runs = append(g.runs, r)
		if r.MicroNsPerOp != nil {
			g.micro = append(g.micro, *r.MicroNsPerOp)
		}
		if r.MicroAllocsPerOp != nil {
			g.allocs = append(g.allocs, *r.MicroAllocsPerOp)
		}
		g.p50, g.p99 = append(g.p50, r.P50Ms), append(g.p99, r.P99Ms)
		g.cpu, g.credBytes = append(g.cpu, r.GatewayCPUUsPerRequest), append(g.credBytes, r.CredentialBytes)
		if r.Saturated {
			g.saturated++
		}
		g.lostInRuns += r.SessionsLost
	}
	return out
}

func renderAlg(b *strings.Builder, rs []Result) {
	b.WriteString("## jwt: HS256 against EdDSA (`--jwt-alg`)\n\n")
	gs := algGroups(rs)
	b.WriteString("**Authenticate in process** (the Go micro-benchmark of the strategy's Authenticate, run after each run's steady phase; repeatable: this is the evidence for the algorithms' cost):\n\n")
	b.WriteString("| algorithm | ns/op, median | range over the runs | × HS256 (medians) | × HS256 (fastest runs) | allocs/op |\n|---|---|---|---|---|---|\n")
	var base, baseMin float64
	for _, g := range gs {
		med, fastest := median(g.micro), math.NaN()
		if len(g.micro) > 0 {
			fastest = slices.Min(g.micro)
		}
		if g.alg == "HS256" {
			base, baseMin = med, fastest
		}
		ratio, ratioMin := "–", "–"
		if base > 0 && !math.IsNaN(med) {
			ratio = fmtNum(med/base) + "×"
		}
		if baseMin > 0 && !math.IsNaN(fastest) {
			ratioMin = fmtNum(fastest/baseMin) + "×"
		}
		allocs := "–"
		if len(g.allocs) > 0 {
			allocs = fmt.Sprint(g.allocs[0])
		}
		fmt.Fprintf(b, "| %s | %s | %s (%s) | %s | %s | %s |\n", g.alg, fmtNum(med), rangeText(g.micro), plural(len(g.micro), "run"), ratio, ratioMin, allocs)
	}
	b.WriteString("\nOther work on a shared machine only ever adds time to a benchmark: the fastest run is the least disturbed, the range says how much the load moved it.\n")
	b.WriteString("\n**End to end** (lb → gateway → backend; **separate runs, not a verdict**: identical runs on this shared machine differ by up to 40% in p50, more than a signature's microseconds; the runs alternate algorithms so drift hits both alike):\n\n")
	b.WriteString("| algorithm | runs | p50 ms, median (range) | p99 ms, median (range) | credential bytes / request | gateway CPU µs / request, median (range) |\n|---|---|---|---|---|---|\n")
	for _, g := range gs {
		runs := fmt.Sprint(len(g.runs))
		if g.saturated > 0 {
			runs += fmt.Sprintf(" (%d saturated)", g.saturated)
		}
		fmt.Fprintf(b, "| %s | %s | %s (%s) | %s (%s) | %s | %s (%s) |\n", g.alg, runs,
			fmtNum(median(g.p50)), rangeText(g.p50), fmtNum(median(g.p99)), rangeText(g.p99),
			fmtNum(median(g.credBytes)), fmtNum(median(g.cpu)), rangeText(g.cpu))
	}
	b.WriteString("\nCredential bytes: the `Authorization` header the client sends per request (an EdDSA signature is 64 bytes, an HS256 MAC 32: 43 more base64 characters). " +
		"Gateway CPU per request: the gateways' whole CPU over the steady phase divided by its requests (fixed costs included; the lb, backend and auth are not in it). Runs: ")
	for i, r := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(b, "[%s #%d](%s/report.md)", r.Label, r.Round, r.Run)
	}
	b.WriteString(".\n\n")
}

func renderAccessTTL(b *strings.Builder, rs []Result) {
	b.WriteString("## jwt: access-token lifetime (`--access-ttl`), on a scaled clock\n\n")
	if len(rs) == 0 {
		return
	}
	r0 := rs[0]
	scale, lw := r0.TimeScale, JWTLeeway.Seconds()
	gap := requestGapS(r0)
	fmt.Fprintf(b, "Lifetimes of minutes cannot be waited out in a run, so this sweep runs on a clock **%s× as fast**: every lifetime is divided by %s (a 1 min token runs as %s s) and every rate and time measured is scaled back (a rate ÷ %s, a time × %s). "+
		"The %d users send %s req/s round robin: each sends a request every %s s as run, **every %s real**, and refreshes its access token %s s as run (%s real) before it expires, at its first request inside that margin (the load driver's refresh-ahead).\n\n",
		fmtNum(scale), fmtNum(scale), fmtNum(60/math.Max(scale, 1)), fmtNum(scale), fmtNum(scale),
		r0.Users, fmtNum(r0.Rate), fmtNum(gap), fmtMinutes(gap*scale), fmtNum(r0.RefreshAheadS), fmtMinutes(r0.RefreshAheadS*scale))
	b.WriteString("**Refreshes** (steady phase):\n\n")
	b.WriteString("| access TTL | as run | refreshes in steady (failed) | refresh req/s as run → real (÷ scale) | time between one user's refreshes, as run: mean (expected) | refreshes per active user per hour, real: measured (expected) | refresh req/s per 1000 active users, real | sessions lost (steady) |\n|---|---|---|---|---|---|---|---|\n")
	for _, p := range rs {
		countRate := math.NaN()
		if p.DurationS > 0 {
			countRate = float64(p.Refreshes) / p.DurationS
		}
		period, perHour, per1000 := "–", "–", "–"
		want := ExpectedRefreshPeriodS(p.AccessTTLS, p.RefreshAheadS, requestGapS(p))
		wantReal := 3600 / (ExpectedRefreshPeriodS(p.AccessTTLS*p.TimeScale, p.RefreshAheadS*p.TimeScale, requestGapS(p)*p.TimeScale))
		if m := p.RefreshIntervalMeanMs; m != nil && *m > 0 {
			realS := *m / 1000 * p.TimeScale
			period = fmt.Sprintf("%s s (%s s)", fmtNum(*m/1000), fmtNum(want))
			perHour = fmt.Sprintf("%s (%s)", fmtNum(3600/realS), fmtNum(wantReal))
			per1000 = fmtNum(1000 / realS)
		} else {
			period = fmt.Sprintf("– (%s s)", fmtNum(want))
			perHour = fmt.Sprintf("– (%s)", fmtNum(wantReal))
		}
		fmt.Fprintf(b, "| %s (%s) | %s s | %d (%d) | %s → %s | %s | %s | %s | %d |\n",
			p.Label, fmtMinutes(p.AccessTTLS*p.TimeScale), fmtNum(p.AccessTTLS), p.Refreshes, p.RefreshFailures,
			fmtNum(countRate), fmtNum(countRate/p.TimeScale), period, perHour, per1000, p.SessionsLost)
	}
	fmt.Fprintf(b, "\nThe rate that matters is set by the time between one user's refreshes: the lifetime, less the refresh-ahead margin, plus on average half a request gap (a user refreshes at its first request inside the margin). "+
		"Expected: (lifetime − margin)⁺ + gap/2, the lifetime being the TTL less 0–1 s (exp has one-second resolution; a token refreshed at a random instant loses 0.5 s on average). "+
		"**At this scale that resolution distorts the shortest lifetimes**: as run a 1 s token lives 0–1 s, which stands for 0–%s real where a real 1 min token loses at most a second, so the 1 min row refreshes more often than a real client would (its expected-as-run column includes the loss, the real one does not). "+
		"The count ÷ steady column is the raw rate: every user's first token was issued at the initial login, so their first refreshes fall together and a short phase cuts the cycle where it may. "+
		"Refresh requests per second for N active users = N ÷ (the time between one user's refreshes).\n\n", fmtMinutes(scale))
	b.WriteString("**Revocation without the denylist**: ")
	fmt.Fprintf(b, "a logged-out token works until its exp plus the %s s clock-skew leeway, a fixed allowance that is not scaled: a lag scaled back is (lag − %s s) × %s + %s s. "+
		"Each sampled user logs in afresh just after a whole second (so issued, a token lives its whole lifetime), logs out after a delay spread evenly over the lifetime, and every gateway is polled until it answers 401. "+
		"Expected: the lag is uniform over the remaining lifetime, plus the leeway; with n users logging out at the midpoints of n equal slices of the lifetime the longest remaining life is (1 − 1/2n) × TTL, which the p99 is close to.\n\n", fmtNum(lw), fmtNum(lw), fmtNum(scale), fmtNum(lw))
	b.WriteString("| access TTL | as run | revocation lag p50 / p99, as run | revocation lag p50 / p99, real | expected p99, real | not revoked at the timeout | run |\n|---|---|---|---|---|---|---|\n")
	for _, p := range rs {
		lagRun, lagReal := "none revoked", "–"
		if p.RevocationP50Ms != nil && p.RevocationP99Ms != nil {
			lagRun = fmtNum(*p.RevocationP50Ms/1000) + " / " + fmtNum(*p.RevocationP99Ms/1000) + " s"
			lagReal = fmtMinutes(RealLagS(*p.RevocationP50Ms, p.TimeScale)) + " / " + fmtMinutes(RealLagS(*p.RevocationP99Ms, p.TimeScale))
		}
		expected := fmtMinutes(expectedLagP99S(p.AccessTTLS*p.TimeScale, p.Sampled))
		fmt.Fprintf(b, "| %s (%s) | %s s | %s | %s | %s | %d of %d (%s s) | [report](%s/report.md) |\n",
			p.Label, fmtMinutes(p.AccessTTLS*p.TimeScale), fmtNum(p.AccessTTLS), lagRun, lagReal, expected, p.NotRevoked, p.Pairs, fmtNum(p.TimeoutS), p.Run)
	}
	b.WriteString("\n")
}

// expectedLagP99S is the longest lag expected without the denylist, real
// seconds, for n users logging out at the midpoints of n equal slices of
// a ttl-second lifetime (0.99 of it when n is unknown): the longest
// remaining lifetime, plus the leeway.
func expectedLagP99S(ttl float64, n int) float64 {
	share := 0.99
	if n > 0 {
		share = 1 - 0.5/float64(n)
	}
	return share*ttl + JWTLeeway.Seconds()
}

// requestGapS is the time between two requests of one user, as run
// (users in turn at the run's rate); NaN when unknown.
func requestGapS(r Result) float64 {
	if r.Rate <= 0 || r.Users <= 0 {
		return math.NaN()
	}
	return float64(r.Users) / r.Rate
}

// ExpectedRefreshPeriodS is the mean time between one user's refreshes
// ahead of expiry, seconds: the token's lifetime less the margin (at
// least 0), plus half the user's request gap (it refreshes at its first
// request inside the margin). The lifetime is ttl less 0–1 s, uniformly:
// exp has one-second resolution and a refreshed token is issued at a
// random instant.
func ExpectedRefreshPeriodS(ttl, margin, gap float64) float64 {
	hi := ttl - margin     // the longest lifetime, less the margin
	lo := ttl - 1 - margin // the shortest
	var life float64
	switch {
	case lo >= 0:
		life = (lo + hi) / 2
	case hi > 0:
		life = hi * hi / 2 // the part of [lo, hi] (width 1) above 0
	}
	return life + gap/2
}

// fmtMinutes is s seconds as minutes and seconds: 4 min 57 s, 12 s.
func fmtMinutes(s float64) string {
	if math.IsNaN(s) {
		return "–"
	}
	t := int(math.Round(s))
	if t < 60 {
		return fmt.Sprintf("%d s", t)
	}
	if t%60 == 0 {
		return fmt.Sprintf("%d min", t/60)
	}
	return fmt.Sprintf("%d min %d s", t/60, t%60)
}

func lagOrNone(ms *float64) string {
	if ms == nil {
		return "none revoked"
	}
	return fmtNum(*ms) + " ms"
}

func cmdsText(p Result) string {
	if p.RedisCommandsPerRequest == nil {
		return "–"
	}
	return fmtNum(*p.RedisCommandsPerRequest)
}

func p50Text(p Result) string {
	s := fmtNum(p.P50Ms)
	if p.Saturated {
		s += " (saturated)"
	}
	return s
}

// plural is "1 run", "3 runs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// median of vs (NaN when empty).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(vs))
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// rangeText is "min–max" of vs ("–" when empty).
func rangeText(vs []float64) string {
	if len(vs) == 0 {
		return "–"
	}
	return fmtNum(slices.Min(vs)) + "–" + fmtNum(slices.Max(vs))
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
