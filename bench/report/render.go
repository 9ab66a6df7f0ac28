package report

import (
	"fmt"
	"io"
	"math"
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
	renderCost(&b, r.Scenarios)
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
}

func renderSettings(b *strings.Builder, st Settings) {
	b.WriteString("## Settings\n\n")
	b.WriteString("| strategy | lb policy | instances | users | rate (req/s) | duration | scenarios | bcrypt cost | path |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(b, "| %s | %s | %d | %d | %s | %ss | %s | %d | `%s` |\n\n",
		st.Strategy, st.Policy, st.Instances, st.Users, num(st.Rate), num(st.DurationS),
		strings.Join(st.Scenarios, ", "), st.BcryptCost, st.Path)
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
	fmt.Fprintf(b, "Initial login of %d users: p50 %s ms, p99 %s ms, %d failed. ",
		r.Login.Users, num(r.Login.Latency.P50), num(r.Login.Latency.P99), r.Login.Failures)
	fmt.Fprintf(b, "Memory across the login: Redis +%s (%s bytes per session); gateways' RSS +%s (%s bytes per login, noisy: compare with the `%s` strategy's).\n\n",
		bytesText(r.Memory.RedisUsedDeltaBytes), num(r.Memory.PerSessionBytes), bytesText(r.Memory.GatewayRSSDeltaBytes), num(r.Memory.GatewayPerLoginBytes), catalog.Control())
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
		return fmt.Sprintf("highest rate with p99 ≤ %s ms: %s req/s", num(s.Capacity.BoundP99Ms), num(s.Capacity.MaxRate))
	}
	return "no load"
}

func renderLoad(b *strings.Builder, s *Scenario) {
	fmt.Fprintf(b, "%s s at %s req/s requested, %s req/s achieved (%d requests, %d OK).\n\n",
		num(s.DurationS), num(s.RequestedRate), num(s.AchievedRate), s.Requests, s.OK)
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
		keys := make([]string, 0, len(s.SessionsLostByInstance))
		for k := range s.SessionsLostByInstance {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s: %d", k, s.SessionsLostByInstance[k])
		}
		fmt.Fprintf(b, " By instance last served: %s.", strings.Join(parts, ", "))
	}
	b.WriteString("\n\n")
}

func renderFindings(b *strings.Builder, s *Scenario, policy string) {
	if f := s.Failover; f != nil {
		fmt.Fprintf(b, "**Failover.** `%s` killed (SIGKILL) at %s s, revived at %s s. ", f.KilledInstance, num(f.KillAtS), num(f.ReviveAtS))
		if policy == catalog.PolicySticky {
			fmt.Fprintf(b, "Users pinned to it: %d; users who lost their session: %d (%d of them pinned there, %d pinned users kept theirs, %d lost it without being pinned there). ",
				len(f.PinnedUsers), len(f.LostUsers), f.PinnedAndLost, f.PinnedNotLost, f.LostNotPinned)
		} else {
			fmt.Fprintf(b, "Users it served last before the kill: %d (lb policy %s: nobody is pinned); users who lost their session: %d (%d of them last served there). ",
				len(f.PinnedUsers), policy, len(f.LostUsers), f.PinnedAndLost)
		}
		fmt.Fprintf(b, "Errors between kill and revive: %d; requests sent to the dead instance: %d; time to recover: %s.\n\n",
			f.WindowErrors, f.DeadInstanceRequests, secondsText(f.RecoveryS))
	}
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
	if v := s.Revocation; v != nil {
		fmt.Fprintf(b, "**Revocation.** %d users logged out, polled on %d instances directly (%d pairs, timeout %s s): lag %s; %d pairs still accepted the credential at the timeout.\n\n",
			v.Sampled, v.Instances, v.Pairs, num(v.TimeoutS), lagText(v.Lag), v.NotRevoked)
	}
	if c := s.Capacity; c != nil {
		fmt.Fprintf(b, "**Capacity** (p99 bound %s ms, error rate < 1%%, achieved ≥ 95%%): highest passing rate **%s req/s**.\n\n", num(c.BoundP99Ms), num(c.MaxRate))
		b.WriteString("| rate | achieved | p99 ms | error rate | pass |\n|---|---|---|---|---|\n")
		for _, st := range c.Steps {
			fmt.Fprintf(b, "| %s | %s | %s | %s%% | %v |\n", num(st.Rate), num(st.Achieved), num(st.P99), num(100*st.ErrorRate), st.Pass)
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
