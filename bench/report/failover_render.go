package report

import (
	"fmt"
	"strings"

	"github.com/authlab/authlab/bench/catalog"
)

// killHow says what a kill mode did, for the report's prose.
func killHow(mode string) string {
	switch mode {
	case "announced":
		return "killed through the lb's admin API (SIGKILL; the lb took it out of rotation first)"
	case "crash":
		return "crashed (SIGKILL from outside the lb, which learns of it only from failed requests and health checks)"
	case "freeze":
		return "frozen (SIGSTOP from outside the lb, SIGCONT at the revive)"
	case "drain":
		return "drained by the lb (no new requests, in-flight ones finished, then stopped)"
	case "":
		return "killed (SIGKILL)"
	}
	return "taken down (" + mode + ")"
}

// renderFailover writes the failover findings of s: the first phase's
// users and sessions, then a table with a row per phase (kill mode × lb
// retry) and each phase's timeline chart.
func renderFailover(b *strings.Builder, s *Scenario, policy string) {
	f := s.Failover
	if f == nil {
		return
	}
	fmt.Fprintf(b, "**Failover.** `%s` %s at %s s, revived at %s s. ", f.KilledInstance, killHow(f.KillMode), num(f.KillAtS), num(f.ReviveAtS))
	if policy == catalog.PolicySticky {
		fmt.Fprintf(b, "Users pinned to it: %d; users who lost their session: %d (%d of them pinned there, %d pinned users kept theirs, %d lost it without being pinned there). ",
			len(f.PinnedUsers), len(f.LostUsers), f.PinnedAndLost, f.PinnedNotLost, f.LostNotPinned)
	} else {
		fmt.Fprintf(b, "Users it served last before the kill: %d (lb policy %s: nobody is pinned); users who lost their session: %d (%d of them last served there). ",
			len(f.PinnedUsers), policy, len(f.LostUsers), f.PinnedAndLost)
	}
	fmt.Fprintf(b, "Errors between kill and revive: %d; requests sent to the dead instance: %d; time to recover: %s.\n\n",
		f.WindowErrors, f.DeadInstanceRequests, secondsText(f.RecoveryS))
	if f.KillMode == "" {
		return
	}
	phases := append([]*Scenario{s}, variantPtrs(f.Variants)...)
	b.WriteString("| kill mode | lb retry | detection (kill → lb marks it down) | detected by | requests to the dead/frozen instance | failed tries at the lb | failed requests (kill → end) | sessions lost | p99 ms | time to recover |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range phases {
		v := p.Failover
		lbTries := "n/a"
		if v.LBFailedTries != nil {
			lbTries = fmt.Sprint(*v.LBFailedTries)
		}
		mode := v.KillMode
		if v.FreezeS > 0 {
			mode += fmt.Sprintf(" (%s s)", num(v.FreezeS))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %d | %s | %d | %d | %s | %s |\n",
			mode, onOff(v.Retry), detectionText(v.DetectionS), orText(strings.ReplaceAll(v.DetectedBy, "|", "/"), "–"),
			v.DeadInstanceRequests, lbTries, v.FailedRequests, v.SessionsLost, num(p.Latency.P99), secondsText(v.RecoveryS))
	}
	b.WriteString("\nRequests to the dead/frozen instance are those sent between the kill and the revive whose answer names it " +
		"(a 502/504 the lb stamped, a late answer after a freeze) or that got no answer; the lb's failed tries also count " +
		"the ones it retried on another instance.\n\n")
	for _, p := range phases {
		if len(p.Timeline) > 0 {
			name := failoverPhaseName(p)
			fmt.Fprintf(b, "![%s timeline](%s)\n\n", name, FailoverChartFile(name))
		}
	}
}

func variantPtrs(vs []Scenario) []*Scenario {
	out := make([]*Scenario, len(vs))
	for i := range vs {
		out[i] = &vs[i]
	}
	return out
}

func onOff(v bool) string {
	if v {
		return "on"
	}
	return "off"
}

// failoverNote is the failover line of the printed summary: each phase's
// detection, requests to the dead instance, failures and recovery.
func failoverNote(f *Failover) string {
	note := fmt.Sprintf("killed %s: %d pinned, %d lost; recovery %s", f.KilledInstance, len(f.PinnedUsers), len(f.LostUsers), recovery(f.RecoveryS))
	if f.KillMode == "" {
		return note
	}
	parts := []string{note}
	for _, v := range append([]*Failover{f}, variantFailovers(f.Variants)...) {
		parts = append(parts, fmt.Sprintf("%s/retry %s: detection %s, %d to the dead instance, %d failed, recovery %s",
			v.KillMode, onOff(v.Retry), detectionText(v.DetectionS), v.DeadInstanceRequests, v.FailedRequests, recovery(v.RecoveryS)))
	}
	return strings.Join(parts, "; ")
}

func variantFailovers(vs []Scenario) []*Failover {
	var out []*Failover
	for i := range vs {
		if vs[i].Failover != nil {
			out = append(out, vs[i].Failover)
		}
	}
	return out
}
