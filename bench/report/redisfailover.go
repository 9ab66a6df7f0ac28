package report

import (
	"fmt"
	"strings"
)

// RedisFailover is what the redis-failover scenario saw: the master
// holding the sessions killed under load, a replica promoted, and what the
// asynchronous replication had not carried over.
type RedisFailover struct {
	// Deployment is cluster or sentinel.
	Deployment   string  `json:"deployment"`
	KilledMaster string  `json:"killed_master"`
	NewMaster    string  `json:"new_master"`
	KillAtS      float64 `json:"kill_at_s"`
	// PromotedAfterS is the time from the kill until a new master served
	// writes (nil when none did within the phase).
	PromotedAfterS *float64 `json:"promoted_after_s"`
	// RecoveryS: from the kill until ≥ 99% success for 5 s; nil if never.
	RecoveryS *float64 `json:"recovery_s"`
	// WindowRequests and WindowErrors: requests sent between the kill and
	// the promotion, and those that failed, by class.
	WindowRequests int    `json:"window_requests"`
	WindowErrors   Errors `json:"window_errors"`

	// Method says how the losses below were counted.
	Method string `json:"method"`
	// Checked is the number of credentials issued before the kill checked
	// once the new master served; SessionsLost those it no longer knew.
	Checked      int `json:"checked"`
	SessionsLost int `json:"sessions_lost"`
	// JustIssued are logins made in a burst right before the kill (the
	// writes most at risk); JustIssuedLost those the new master lacked.
	JustIssued     int `json:"just_issued"`
	JustIssuedLost int `json:"just_issued_lost"`
	// RefreshChecked refresh tokens held at the kill were redeemed once
	// after it; RefreshLost were refused (401).
	RefreshChecked int `json:"refresh_checked"`
	RefreshLost    int `json:"refresh_lost"`
	// Revoked are logouts made right before the kill; RevocationsLost
	// those whose credential was accepted again after the failover.
	Revoked         int `json:"revoked"`
	RevocationsLost int `json:"revocations_lost"`
}

// Partition is what the redis-partition scenario saw: one gateway cut off
// from Redis by the network while the others kept it. The window fields
// are those of RedisOutage (StopAtS: the cut, StartAtS: the heal).
type Partition struct {
	Instance string `json:"instance"`
	RedisOutage
}

// renderPartition writes the redis-partition finding of report.md.
func renderPartition(b *strings.Builder, p *Partition) {
	rate := 0.0
	if p.DuringRequests > 0 {
		rate = 100 * float64(p.DuringOK) / float64(p.DuringRequests)
	}
	fmt.Fprintf(b, "**Redis partition.** `%s` cut off from Redis at %s s (network disconnect), reconnected at %s s; Redis stayed up for the others. While cut: %d requests, %s%% OK, %d 503, %d other errors. Time to recover after the heal: %s.\n\n",
		p.Instance, num(p.StopAtS), num(p.StartAtS), p.DuringRequests, num(rate), p.DuringErrors.StoreDown,
		p.DuringErrors.Total()-p.DuringErrors.StoreDown, secondsText(p.RecoveryS))
}

// renderRedisFailover writes the redis-failover finding of report.md.
func renderRedisFailover(b *strings.Builder, f *RedisFailover) {
	fmt.Fprintf(b, "**Redis failover** (%s). Master `%s` SIGKILLed at %s s under load", f.Deployment, f.KilledMaster, num(f.KillAtS))
	if f.PromotedAfterS != nil {
		fmt.Fprintf(b, "; `%s` served writes as the new master %s s later", f.NewMaster, num(*f.PromotedAfterS))
	} else {
		b.WriteString("; no new master served writes within the phase")
	}
	b.WriteString(".\n\n| measure | value |\n|---|---|\n")
	e := f.WindowErrors
	fmt.Fprintf(b, "| requests between kill and promotion | %d (%d failed: %d store down 503, %d session lost, %d transport, %d other) |\n",
		f.WindowRequests, e.Total(), e.StoreDown, e.SessionLost, e.Transport, e.Total()-e.StoreDown-e.SessionLost-e.Transport)
	fmt.Fprintf(b, "| time to recover (≥ 99%% success for 5 s) | %s |\n", secondsText(f.RecoveryS))
	fmt.Fprintf(b, "| credentials issued before the kill, lost | %d of %d |\n", f.SessionsLost, f.Checked)
	fmt.Fprintf(b, "| logins right before the kill, lost | %d of %d |\n", f.JustIssuedLost, f.JustIssued)
	if f.RefreshChecked > 0 {
		fmt.Fprintf(b, "| refresh tokens held at the kill, refused after it | %d of %d |\n", f.RefreshLost, f.RefreshChecked)
	}
	fmt.Fprintf(b, "| logouts right before the kill, undone | %d of %d |\n\n", f.RevocationsLost, f.Revoked)
	fmt.Fprintf(b, "How counted: %s\n\n", f.Method)
}
