package scenario

import (
	"net/http"
	"slices"
	"time"

	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/lb"
)

// observation is what the failover scenario knows of one kill besides the
// load phase's records: who, how, when, and what the lb said.
type observation struct {
	Victim    string
	Mode      string
	Retry     bool
	FreezeFor time.Duration
	// Window is when the instance was down within the phase: from the
	// kill to the revive.
	Window window
	// KillWall is the wall-clock time of the kill, to read the lb's event
	// stamps against.
	KillWall time.Time
	// Events are the lb's events from before the phase on.
	Events []lb.Event
	// FailedAtKill and FailedAtRevive are the lb's failed-try counter of
	// the victim at the kill and at the revive (nil: not read).
	FailedAtKill, FailedAtRevive *uint64
	// Pinned are the users the victim served last before the kill.
	Pinned []string
}

// classifyFailover turns one failover phase into its findings: the
// sessions lost against the users pinned to the victim, the lb's
// detection (its first "down" event for the victim after the kill and
// before the revive), the requests whose answer shows they went to the
// dead or frozen instance, the failed requests, the lb's failed tries and
// the time to recover.
func classifyFailover(pr *load.PhaseResult, timeline []report.Second, o observation) *report.Failover {
	w := o.Window
	lost := pr.LostUsers(w.from)
	f := &report.Failover{
		KilledInstance: o.Victim, KillAtS: report.Round3(w.from.Seconds()), ReviveAtS: report.Round3(w.to.Seconds()),
		PinnedUsers: nonNil(o.Pinned), LostUsers: nonNil(lost),
		RecoveryS: report.Recovery(timeline, w.from.Seconds()),
		KillMode:  o.Mode, Retry: o.Retry, FreezeS: report.Round3(o.FreezeFor.Seconds()),
	}
	for _, u := range o.Pinned {
		if slices.Contains(lost, u) {
			f.PinnedAndLost++
		} else {
			f.PinnedNotLost++
		}
	}
	f.LostNotPinned = len(lost) - f.PinnedAndLost
	for _, l := range pr.Losses {
		if l.At >= w.from {
			f.SessionsLost++
		}
	}
	for _, rec := range pr.Records {
		if rec.At < w.from {
			continue
		}
		if rec.Class != load.ClassOK {
			f.FailedRequests++
		}
		if !w.contains(rec.At) {
			continue
		}
		if rec.Class != load.ClassOK {
			f.WindowErrors++
		}
		if sentToDead(rec, o.Victim) {
			f.DeadInstanceRequests++
		}
	}
	if ev, ok := detection(o.Events, o.Victim, o.KillWall, w.to-w.from); ok {
		f.DetectionS = report.Float(report.Round3(ev.Wall.Sub(o.KillWall).Seconds()))
		f.DetectedBy = ev.Reason
	}
	if o.FailedAtKill != nil && o.FailedAtRevive != nil && *o.FailedAtRevive >= *o.FailedAtKill {
		n := int(*o.FailedAtRevive - *o.FailedAtKill)
		f.LBFailedTries = &n
	}
	return f
}

// sentToDead reports whether rec's answer shows it went to the victim: an
// answer naming it (a 502/504 the lb stamped, or a late answer of a frozen
// instance; a revived one only answers after the window), or none at all.
func sentToDead(rec load.Record, victim string) bool {
	if rec.Instance == victim {
		return true
	}
	if rec.Instance != "" {
		return false
	}
	return rec.Class == load.ClassTransport || rec.Code == http.StatusGatewayTimeout
}

// detection is the lb's first "down" event for victim at or after the
// kill and within limit of it (before the revive).
func detection(evs []lb.Event, victim string, kill time.Time, limit time.Duration) (lb.Event, bool) {
	if kill.IsZero() {
		return lb.Event{}, false
	}
	for _, ev := range evs {
		if ev.Type != lb.EventDown || ev.Instance != victim {
			continue
		}
		if d := ev.Wall.Sub(kill); d >= 0 && d <= limit {
			return ev, true
		}
	}
	return lb.Event{}, false
}
