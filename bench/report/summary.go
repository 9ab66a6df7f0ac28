package report

import (
	"fmt"
	"io"
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
			fmt.Fprintf(tw, "%s\t\t\t\t\t\t\t\t\thighest rate with p99 ≤ %v ms: %v req/s\n", s.Name, s.Capacity.BoundP99Ms, s.Capacity.MaxRate)
			continue
		}
		note := ""
		if f := s.Failover; f != nil {
			note = failoverNote(f)
		}
		if o := s.RedisOutage; o != nil {
			note = fmt.Sprintf("Redis down: %d/%d OK; recovery %s", o.DuringOK, o.DuringRequests, recovery(o.RecoveryS))
		}
		fmt.Fprintf(tw, "%s\t%v\t%.1f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%d\t%s\n", s.Name, s.RequestedRate, s.AchievedRate,
			s.Latency.P50, s.Latency.P99, s.Latency.Max, s.Errors.Total(), s.SessionsLost, s.Relogins, note)
	}
	tw.Flush()
}

func recovery(v *float64) string {
	if v == nil {
		return "never"
	}
	return fmt.Sprintf("%.2fs", *v)
}
