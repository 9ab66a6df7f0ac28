package report

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/authlab/authlab/bench/catalog"
)

// LatencyChartFile is the file name of a scenario's latency-over-time chart.
func LatencyChartFile(scenario string) string { return scenario + "-latency.png" }

// PercentilesChartFile is the file name of the latency percentiles chart.
const PercentilesChartFile = "percentiles.png"

// hasTimeline reports whether s gets a latency-over-time chart.
func hasTimeline(s *Scenario) bool { return !s.Skipped && len(s.Timeline) > 0 }

// RenderMarkdown writes the human-readable report.md for r. Chart images
// are referenced by the names WriteCharts gives them.
func RenderMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	renderHeader(&b, r)
	renderSettings(&b, r.Settings)
	renderMachine(&b, r.Environment)
	renderSummary(&b, r)
	renderLoadHealth(&b, r)
	renderCost(&b, r.Scenarios)
	renderMarginal(&b, r)
	for i := range r.Scenarios {
		renderScenario(&b, &r.Scenarios[i], r.Settings.Policy)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func renderHeader(b *strings.Builder, r *Report) {
	fmt.Fprintf(b, "# authlab bench — `%s`\n\n", r.Strategy)
	fmt.Fprintf(b, "Run `%s`, %s → %s (UTC). Schema version %d; see `results/README.md` for every field.\n\n",
		r.RunID, r.StartedAt.UTC().Format("2006-01-02 15:04:05"), r.FinishedAt.UTC().Format("15:04:05"), r.SchemaVersion)
	fmt.Fprintf(b, "> %s\n\n", StandAloneNote)
}

// StandAloneNote heads every single-strategy report: its numbers are not a
// comparison.
const StandAloneNote = "These numbers stand alone: one strategy, measured by itself at one moment of this machine. " +
	"They are not a comparison — identical runs here differ by tens of percent in latency. " +
	"To compare strategies, read `results/COMPARISON.md`, whose latency comes from a paired run (`authlab bench --strategy all --rounds N`)."

func renderSettings(b *strings.Builder, st Settings) {
	b.WriteString("## Settings\n\n")
	b.WriteString("| strategy | lb policy | instances | users | rate (req/s) | duration | scenarios | bcrypt cost | path |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(b, "| %s | %s | %d | %d | %s | %ss | %s | %d | `%s` |\n\n",
		st.Strategy, st.Policy, st.Instances, st.Users, num(st.Rate), num(st.DurationS),
		strings.Join(st.Scenarios, ", "), st.BcryptCost, st.Path)
	renderNetwork(b, st.Network)
	if len(st.Flags) == 0 {
		return
	}
	keys := make([]string, 0, len(st.Flags))
	for k := range st.Flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("`--%s=%s`", k, st.Flags[k])
	}
	fmt.Fprintf(b, "All flags: %s\n\n", strings.Join(parts, " "))
}

func renderMachine(b *strings.Builder, e Environment) {
	b.WriteString("## Machine\n\n")
	b.WriteString("| OS | kernel | CPU | CPUs | Go | Redis | commit |\n|---|---|---|---|---|---|---|\n")
	commit := e.GitCommit
	if e.GitDirty {
		commit += " (dirty)"
	}
	fmt.Fprintf(b, "| %s/%s | %s | %s | %d | %s | %s %s | %s |\n\n",
		e.OS, e.Arch, e.Kernel, e.CPUModel, e.CPUs, e.GoVersion, e.RedisKind, e.RedisVersion, commit)
	if strings.Contains(e.RedisKind, "embedded") {
		b.WriteString("> **Warning:** Redis was the embedded miniredis fallback (no `redis-server` on PATH): Redis timings are not a real Redis's.\n\n")
	}
}

// renderSummary is one line per scenario, the initial login and the
// memory it cost.
func renderSummary(b *strings.Builder, r *Report) {
	b.WriteString("## Summary\n\n")
	b.WriteString("| scenario | requested rate | achieved rate | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | sessions lost | re-logins | time to recover |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i := range r.Scenarios {
		summaryLine(b, &r.Scenarios[i])
	}
	b.WriteString("\n")
	renderFloorLine(b, r)
	fmt.Fprintf(b, "Initial login of %d users: p50 %s ms, p99 %s ms, %d failed.\n\n",
		r.Login.Users, num(r.Login.Latency.P50), num(r.Login.Latency.P99), r.Login.Failures)
	renderMemory(b, r.Memory)
	if anyTimeline(r) {
		fmt.Fprintf(b, "![latency percentiles per scenario](%s)\n\n", PercentilesChartFile)
	}
}

func summaryLine(b *strings.Builder, s *Scenario) {
	switch {
	case s.Skipped:
		fmt.Fprintf(b, "| %s | skipped: %s |||||||||||\n", s.Name, s.SkipReason)
		return
	case s.Requests == 0:
		fmt.Fprintf(b, "| %s | %s |||||||||||\n", s.Name, headline(s))
		return
	}
	name := s.Name
	if len(s.Warnings) > 0 {
		name += " ⚠"
	}
	fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %d | %d | %d | %s |\n",
		name, num(s.RequestedRate), num(s.AchievedRate), num(s.Latency.P50), num(s.Latency.P90),
		num(s.Latency.P99), num(s.Latency.P999), num(s.Latency.Max), s.Errors.Total(),
		s.SessionsLost, s.Relogins, recoveryText(s))
}

// renderFloorLine reads the steady latency above the measurement floor.
func renderFloorLine(b *strings.Builder, r *Report) {
	f := r.Floor
	if f == nil {
		b.WriteString("Measurement floor: not measured (it is unless `--floor=false`).\n\n")
		return
	}
	fmt.Fprintf(b, "**Measurement floor** (the same load, %s req/s, against a bare echo server on loopback: the harness's and the loopback's own latency): p50 %s ms, p99 %s ms.",
		num(f.Rate), num(f.Latency.P50), num(f.Latency.P99))
	if f.Load != nil && f.Load.Saturated {
		fmt.Fprintf(b, " ⚠ The generator did not keep up even there (%s).", f.Load.Reason)
	}
	if s := r.Scenario("steady"); s != nil && !s.Skipped && s.Requests > 0 {
		fmt.Fprintf(b, " Steady above the floor: p50 %s → **+%s ms**, p99 %s → **+%s ms**.",
			num(s.Latency.P50), num(Round3(s.Latency.P50-f.Latency.P50)), num(s.Latency.P99), num(Round3(s.Latency.P99-f.Latency.P99)))
	}
	b.WriteString("\n\n")
}

// renderMemory is what the sessions cost in memory: the gateways' live
// heap after GC per session (the headline for sessions held in process),
// Redis's used memory per session, and the RSS growth (noisy).
func renderMemory(b *strings.Builder, m Memory) {
	b.WriteString("Memory per live session, across the initial login: ")
	if m.GatewayHeapPerSessionBytes != nil {
		fmt.Fprintf(b, "gateways' live heap after GC **%s bytes**; ", num(*m.GatewayHeapPerSessionBytes))
	} else {
		b.WriteString("gateways' live heap not measured; ")
	}
	fmt.Fprintf(b, "Redis `used_memory` **%s bytes** (+%s in all). Gateways' RSS +%s (%s bytes per login; noisy, runtime warm-up included: compare with the `%s` strategy's).\n\n",
		num(m.PerSessionBytes), bytesText(m.RedisUsedDeltaBytes), bytesText(m.GatewayRSSDeltaBytes), num(m.GatewayPerLoginBytes), catalog.Control())
}

// renderLoadHealth says, per load phase, whether the load generator kept
// up: latency counts from each request's intended send time, so a
// generator that fell behind shows here rather than hiding.
func renderLoadHealth(b *strings.Builder, r *Report) {
	type row struct {
		name string
		h    *LoadHealth
	}
	var rows []row
	if r.Floor != nil && r.Floor.Load != nil {
		rows = append(rows, row{"floor (echo server)", r.Floor.Load})
	}
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		switch {
		case s.Cost != nil:
			for _, p := range s.Cost.Points {
				if p.Load != nil {
					rows = append(rows, row{fmt.Sprintf("%s @ %s req/s", s.Name, num(p.Rate)), p.Load})
				}
			}
		case s.Capacity != nil:
			for _, st := range s.Capacity.Steps {
				if st.Load != nil {
					rows = append(rows, row{fmt.Sprintf("%s @ %s req/s", s.Name, num(st.Rate)), st.Load})
				}
			}
		case s.Load != nil:
			rows = append(rows, row{s.Name, s.Load})
		}
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("## Load generator\n\n")
	b.WriteString("Latency is measured from each request's intended send time (constant rate, open model), so a generator that falls behind adds its delay to the latency instead of hiding it. ")
	b.WriteString("A phase is **saturated** (its numbers are the generator's, not the system's) when it achieved < 95% of the requested rate, its send lag p99 exceeded two intervals (clamped to 1–10 ms), or the generator used ≥ 90% of a core.\n\n")
	b.WriteString("| phase | requested req/s | achieved req/s | send lag p99 ms | generator CPU (% of a core) | kept up |\n|---|---|---|---|---|---|\n")
	for _, rw := range rows {
		h := rw.h
		verdict := "yes"
		if h.Saturated {
			verdict = "⚠ **saturated**: " + h.Reason
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", rw.name, num(h.RequestedRate), num(h.AchievedRate), num(h.SendLagP99Ms), num(h.GeneratorCPUPercent), verdict)
	}
	b.WriteString("\n")
}

// renderMarginal is the cost scenario's marginal CPU per request and the
// micro-benchmark of the strategy's Authenticate.
func renderMarginal(b *strings.Builder, r *Report) {
	var c *Cost
	for i := range r.Scenarios {
		if r.Scenarios[i].Cost != nil {
			c = r.Scenarios[i].Cost
		}
	}
	if c == nil && r.Micro == nil {
		return
	}
	b.WriteString("## Marginal cost\n\n")
	if c != nil {
		fmt.Fprintf(b, "Gateways' CPU net of idle (%s%% of a core with no load, subtracted over each window), per request; the marginal cost is the slope between the lowest and the highest rate, which no fixed cost enters: **%s µs of gateway CPU per extra request**.\n\n",
			num(c.IdleCPUPercent), optNum(c.MarginalUsPerRequest))
		b.WriteString("| rate req/s | requests | window s | gateway CPU s | idle CPU s (same window) | net µs/request | generator kept up |\n|---|---|---|---|---|---|---|\n")
		for _, p := range c.Points {
			kept := "–"
			if p.Load != nil {
				kept = "yes"
				if p.Load.Saturated {
					kept = "⚠ no: " + p.Load.Reason
				}
			}
			fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %s |\n", num(p.Rate), p.Requests, num(p.WindowS),
				num(p.CPUSeconds), num(p.IdleCPUSeconds), num(p.NetUsPerRequest), kept)
		}
		b.WriteString("\n")
	}
	if m := r.Micro; m != nil {
		fmt.Fprintf(b, "Go micro-benchmark of `%s`'s Authenticate, in process (`testing.Benchmark`, %d iterations): **%s ns/op**, %d allocs/op, %d B/op — the strategy's own code, without HTTP, lb or backend.\n\n",
			r.Strategy, m.N, num(m.NsPerOp), m.AllocsPerOp, m.BytesPerOp)
	}
}

func optNum(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return num(*v)
}

// renderCost is what each load scenario cost per request.
func renderCost(b *strings.Builder, scenarios []Scenario) {
	b.WriteString("## Cost per request\n\n")
	b.WriteString("| scenario | credential bytes | Redis commands | gateway CPU s | gateway CPU µs/request | gateway peak RSS |\n|---|---|---|---|---|---|\n")
	for i := range scenarios {
		s := &scenarios[i]
		if s.Skipped || s.Requests == 0 {
			continue
		}
		rc := "n/a"
		if s.RedisCommandsPerRequest != nil {
			rc = num(*s.RedisCommandsPerRequest)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", s.Name, num(s.CredentialBytes), rc,
			num(s.Gateway.CPUSeconds), num(s.Gateway.CPUPerRequestUs), bytesText(s.Gateway.PeakRSSBytes))
	}
	b.WriteString("\n")
}

func anyTimeline(r *Report) bool {
	for i := range r.Scenarios {
		if hasTimeline(&r.Scenarios[i]) {
			return true
		}
	}
	return false
}

func renderScenario(b *strings.Builder, s *Scenario, policy string) {
	fmt.Fprintf(b, "## Scenario `%s`\n\n", s.Name)
	if s.Skipped {
		fmt.Fprintf(b, "Skipped: %s\n\n", s.SkipReason)
		return
	}
	for _, w := range s.Warnings {
		fmt.Fprintf(b, "> **Warning:** %s\n\n", w)
	}
	if s.Requests > 0 {
		renderLoad(b, s)
	}
	renderHops(b, s)
	renderFindings(b, s, policy)
}

// headline is the one-cell result of a scenario without steady load.
func headline(s *Scenario) string {
	switch {
	case s.Revocation != nil:
		v := s.Revocation
		return fmt.Sprintf("revocation lag %s; %d/%d pairs not revoked within %s s",
			lagText(v.Lag), v.NotRevoked, v.Pairs, num(v.TimeoutS))
	case s.Capacity != nil:
		h := fmt.Sprintf("highest rate with p99 ≤ %s ms: %s req/s", num(s.Capacity.BoundP99Ms), num(s.Capacity.MaxRate))
		if s.Capacity.LimitedBy != "" {
			h += "; limited by the " + s.Capacity.LimitedBy
		}
		return h
	case s.Cost != nil:
		return fmt.Sprintf("marginal gateway CPU %s µs/request; idle %s%% of a core", optNum(s.Cost.MarginalUsPerRequest), num(s.Cost.IdleCPUPercent))
	}
	return "no load"
}

func renderLoad(b *strings.Builder, s *Scenario) {
	fmt.Fprintf(b, "%s s at %s req/s requested, %s req/s achieved (%d requests, %d OK).",
		num(s.DurationS), num(s.RequestedRate), num(s.AchievedRate), s.Requests, s.OK)
	if h := s.Load; h != nil {
		fmt.Fprintf(b, " Load generator: send lag p99 %s ms, %s%% of a core", num(h.SendLagP99Ms), num(h.GeneratorCPUPercent))
		if h.Saturated {
			b.WriteString(" — **saturated**: these latencies are the generator's, not the system's")
		}
		b.WriteString(".")
	}
	if t := s.Traffic; t != nil && t.Distribution == "zipf" {
		fmt.Fprintf(b, " Users drawn from a Zipf distribution (exponent %s): the heaviest user sent %s%% of the requests, the heaviest 1%% %s%%, the heaviest 10%% %s%%; %d users active.",
			num(t.Skew), num(100*t.TopUserShare), num(100*t.Top1PctShare), num(100*t.Top10PctShare), t.ActiveUsers)
	}
	b.WriteString("\n\n")
	if len(s.Events) > 0 {
		parts := make([]string, len(s.Events))
		for i, ev := range s.Events {
			parts[i] = fmt.Sprintf("%s %s at %s s", ev.Type, ev.Instance, num(ev.AtS))
			parts[i] = strings.Replace(parts[i], "  ", " ", 1)
		}
		fmt.Fprintf(b, "Events: %s.\n\n", strings.Join(parts, "; "))
	}
	er := s.Errors
	b.WriteString("| transport | 401 session lost | 401 never logged in | 503 store down | other 5xx | other |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(b, "| %d | %d | %d | %d | %d | %d |\n\n", er.Transport, er.SessionLost, er.Unauthorized, er.StoreDown, er.Server, er.Other)
	fmt.Fprintf(b, "Sessions lost: %d; re-logins: %d (%d failed), re-login p50 %s ms, p99 %s ms.",
		s.SessionsLost, s.Relogins, s.ReloginFailures, num(s.ReloginLatency.P50), num(s.ReloginLatency.P99))
	if len(s.SessionsLostByInstance) > 0 {
		keys := slices.Sorted(maps.Keys(s.SessionsLostByInstance))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s: %d", k, s.SessionsLostByInstance[k])
		}
		fmt.Fprintf(b, " By instance last served: %s.", strings.Join(parts, ", "))
	}
	if s.Refreshes > 0 || s.RefreshFailures > 0 {
		fmt.Fprintf(b, " Access tokens refreshed ahead of expiry: %d (%d failed)", s.Refreshes, s.RefreshFailures)
		if l := s.RefreshLatency; l != nil {
			fmt.Fprintf(b, ", refresh p50 %s ms, p99 %s ms", num(l.P50), num(l.P99))
		}
		b.WriteString(".")
	}
	b.WriteString("\n\n")
}

func renderFindings(b *strings.Builder, s *Scenario, policy string) {
	renderFailover(b, s, policy)
	if o := s.RedisOutage; o != nil {
		rate := 0.0
		if o.DuringRequests > 0 {
			rate = 100 * float64(o.DuringOK) / float64(o.DuringRequests)
		}
		fmt.Fprintf(b, "**Redis outage.** Redis stopped at %s s, restarted at %s s. While down: %d requests, %s%% OK, %d 503, %d other errors. Time to recover after the restart: %s.\n\n",
			num(o.StopAtS), num(o.StartAtS), o.DuringRequests, num(rate), o.DuringErrors.StoreDown,
			o.DuringErrors.Total()-o.DuringErrors.StoreDown, secondsText(o.RecoveryS))
	}
	if f := s.RedisFailover; f != nil {
		renderRedisFailover(b, f)
	}
	if p := s.RedisPartition; p != nil {
		renderPartition(b, p)
	}
	renderNetConditions(b, s)
	renderMixed(b, s)
	if v := s.Revocation; v != nil {
		fmt.Fprintf(b, "**Revocation.** %d users logged out, polled on %d instances directly (%d pairs, timeout %s s): lag %s; %d pairs still accepted the credential at the timeout.\n\n",
			v.Sampled, v.Instances, v.Pairs, num(v.TimeoutS), lagText(v.Lag), v.NotRevoked)
		if v.SpreadS > 0 {
			fmt.Fprintf(b, "Each sampled user logged in afresh and out after a delay spread evenly over %s s (logouts at spread token ages), not right after the load.\n\n", num(v.SpreadS))
		}
	}
	if c := s.Capacity; c != nil {
		fmt.Fprintf(b, "**Capacity** (p99 bound %s ms, error rate < 1%%, achieved ≥ 95%%, generator not saturated): highest passing rate **%s req/s**.", num(c.BoundP99Ms), num(c.MaxRate))
		if c.LimitedBy != "" {
			fmt.Fprintf(b, " The side that ran out: **%s** (%s).", c.LimitedBy, c.LimitReason)
		}
		b.WriteString("\n\n| rate | achieved | p99 ms | error rate | generator CPU % | gateways CPU % | lb CPU % | pass |\n|---|---|---|---|---|---|---|---|\n")
		for _, st := range c.Steps {
			pass := fmt.Sprint(st.Pass)
			if st.Saturated {
				pass = "saturated (the generator's limit, not the system's latency)"
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s%% | %s | %s | %s | %s |\n", num(st.Rate), num(st.Achieved), num(st.P99), num(100*st.ErrorRate),
				num(st.GeneratorCPUPercent), num(st.GatewaysCPUPercent), num(st.LBCPUPercent), pass)
		}
		b.WriteString("\n")
	}
	if hasTimeline(s) {
		fmt.Fprintf(b, "![%s latency over time](%s)\n\n", s.Name, LatencyChartFile(s.Name))
		b.WriteString("<details><summary>Per-second timeline</summary>\n\n")
		b.WriteString("| t (s) | requests | OK | errors | sessions lost | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|---|\n")
		for _, sec := range s.Timeline {
			fmt.Fprintf(b, "| %d | %d | %d | %d | %d | %s | %s | %s |\n", sec.T, sec.Requests, sec.OK, sec.Errors.Total(),
				sec.SessionLost, num(sec.P50), num(sec.P99), num(sec.Max))
		}
		b.WriteString("\n</details>\n\n")
	}
}

// lagText renders revocation lag percentiles, or says none was revoked.
func lagText(p Percentiles) string {
	if p.Count == 0 {
		return "none revoked"
	}
	return fmt.Sprintf("p50 %s ms, p99 %s ms, max %s ms", num(p.P50), num(p.P99), num(p.Max))
}

func recoveryText(s *Scenario) string {
	switch {
	case s.Failover != nil:
		return secondsText(s.Failover.RecoveryS)
	case s.RedisOutage != nil:
		return secondsText(s.RedisOutage.RecoveryS)
	case s.RedisFailover != nil:
		return secondsText(s.RedisFailover.RecoveryS)
	case s.RedisPartition != nil:
		return secondsText(s.RedisPartition.RecoveryS)
	case s.RedisHang != nil:
		return secondsText(s.RedisHang.RecoveryS)
	}
	return "–"
}

func secondsText(v *float64) string {
	if v == nil {
		return "not recovered"
	}
	return num(*v) + " s"
}

// num formats v compactly: integers without decimals, others with up to 3
// significant decimals.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%d", int64(v))
	}
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func bytesText(n int64) string {
	a := math.Abs(float64(n))
	switch {
	case a >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
