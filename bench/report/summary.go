package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// PrintSummary writes a short table of r for the terminal.
func PrintSummary(w io.Writer, r *Report) {
	st := r.Settings
	fmt.Fprintf(w, "%s: %d instances, policy %s, %d users, %v req/s for %vs per scenario; %s, %d CPUs; Redis: %s %s\n",
		r.Strategy, st.Instances, st.Policy, st.Users, st.Rate, st.DurationS, r.Environment.CPUModel,
		r.Environment.CPUs, r.Environment.RedisKind, r.Environment.RedisVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\trate req/s\tachieved\tp50 ms\tp99 ms\tmax ms\terrors\tsessions lost\tre-logins\tnotes")
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		switch {
		case s.Skipped:
			fmt.Fprintf(tw, "%s\tskipped: %s\n", s.Name, s.SkipReason)
			continue
		case s.Revocation != nil:
			v := s.Revocation
			lag := "none revoked"
			if v.Lag.Count > 0 {
				lag = fmt.Sprintf("lag p50 %.3f ms, p99 %.3f ms, max %.3f ms", v.Lag.P50, v.Lag.P99, v.Lag.Max)
			}
			fmt.Fprintf(tw, "%s\t\t\t\t\t\t\t\t\t%s; %d/%d not revoked within %vs\n", s.Name, lag, v.NotRevoked, v.Pairs, v.TimeoutS)
			continue
		case s.Capacity != nil:
			limit := ""
			if s.Capacity.LimitedBy != "" {
				limit = "; limited by the " + s.Capacity.LimitedBy
			}
			fmt.Fprintf(tw, "%s\t\t\t\t\t\t\t\t\thighest rate with p99 ≤ %v ms: %v req/s%s\n", s.Name, s.Capacity.BoundP99Ms, s.Capacity.MaxRate, limit)
			continue
		case s.Cost != nil:
			fmt.Fprintf(tw, "%s\t\t\t\t\t\t\t\t\tmarginal gateway CPU %s µs/request (idle %.1f%% of a core)\n", s.Name, optNum(s.Cost.MarginalUsPerRequest), s.Cost.IdleCPUPercent)
			continue
		}
		note := ""
		if f := s.Failover; f != nil {
			note = failoverNote(f)
		}
		if o := s.RedisOutage; o != nil {
			note = fmt.Sprintf("Redis down: %d/%d OK; recovery %s", o.DuringOK, o.DuringRequests, recovery(o.RecoveryS))
		}
		if m := s.Mixed; m != nil {
			note = fmt.Sprintf("errors include %d 403s due (admin path, normal user); unexpected %d (serious %d); refreshes %d, logouts %d",
				m.Outcomes[MixedOutcomeDenied], m.Unexpected, m.Serious, s.Refreshes, m.Logouts)
		}
		fmt.Fprintf(tw, "%s\t%v\t%.1f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%d\t%s\n", s.Name, s.RequestedRate, s.AchievedRate,
			s.Latency.P50, s.Latency.P99, s.Latency.Max, s.Errors.Total(), s.SessionsLost, s.Relogins, note)
	}
	tw.Flush()
	printMeasures(w, r)
}

// printMeasures is one line of the floor, memory per session and the
// micro-benchmark, and one naming the phases whose generator did not keep
// up.
func printMeasures(w io.Writer, r *Report) {
	var parts []string
	if f := r.Floor; f != nil {
		parts = append(parts, fmt.Sprintf("floor p50 %.3f ms p99 %.3f ms", f.Latency.P50, f.Latency.P99))
	}
	if h := r.Memory.GatewayHeapPerSessionBytes; h != nil {
		parts = append(parts, fmt.Sprintf("gateway heap %.0f B/session", *h))
	}
	parts = append(parts, fmt.Sprintf("Redis %.0f B/session", r.Memory.PerSessionBytes))
	if m := r.Micro; m != nil {
		parts = append(parts, fmt.Sprintf("Authenticate %s ns/op, %d allocs/op", num(m.NsPerOp), m.AllocsPerOp))
	}
	fmt.Fprintln(w, strings.Join(parts, "; "))
	var sat []string
	if f := r.Floor; f != nil && f.Load != nil && f.Load.Saturated {
		sat = append(sat, "floor")
	}
	for i := range r.Scenarios {
		if h := r.Scenarios[i].Load; h != nil && h.Saturated {
			sat = append(sat, r.Scenarios[i].Name)
		}
	}
	if len(sat) > 0 {
		fmt.Fprintf(w, "⚠ load generator saturated in: %s (see report.md, Load generator)\n", strings.Join(sat, ", "))
	}
}

func recovery(v *float64) string {
	if v == nil {
		return "never"
	}
	return fmt.Sprintf("%.2fs", *v)
}

// PrintPairedSummary writes a short table of a paired run for the
// terminal: each pool's p50 and its ratio to the control, labelled.
func PrintPairedSummary(w io.Writer, run *PairedRun) {
	st := run.Settings
	fmt.Fprintf(w, "paired: %s; %d of %d rounds × %vs, %v req/s per pool, %d users and %d gateways per pool; %s, %d CPUs; Redis: %s %s\n",
		strings.Join(st.Strategies, ", "), len(run.Rounds), st.Rounds, st.DurationS, st.RatePerPool, st.UsersPerPool, st.Instances,
		run.Environment.CPUModel, run.Environment.CPUs, run.Environment.RedisKind, run.Environment.RedisVersion)
	fmt.Fprintf(w, "noise floor (A/A %s/%s p50): ±%s%%, A/A ratio %s\n", run.AAPool, run.ControlPool,
		num(100*run.Summary.NoiseFloor.P50), ratioText(run.Summary.AA.RatioP50))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "pool\tp50 ms\tp99 ms\tp50 / %s\n", run.ControlPool)
	rows := append([]PoolSummary{}, run.Summary.Pools...)
	if run.Summary.AA.Pool != "" {
		rows = append(rows, run.Summary.AA)
	}
	for _, s := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Pool, IntervalText(s.P50Ms), IntervalText(s.P99Ms), strings.ReplaceAll(labelOr(s.RatioP50, "control"), "**", ""))
	}
	tw.Flush()
	for _, wn := range run.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
}
