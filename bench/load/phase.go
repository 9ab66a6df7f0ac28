package load

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/authlab/authlab/bench/report"
)

// Record is one request of a phase.
type Record struct {
	// At is the intended send time since the start of the phase: the
	// constant-rate schedule's, start + (seq+1)/rate.
	At time.Duration
	// Sent is when vegeta actually sent it, since the start of the phase.
	Sent time.Duration
	// SendLag is Sent − At: how late the generator was.
	SendLag time.Duration
	// Latency is measured from the intended send time At to the end of
	// the answer, so a late send counts (no coordinated omission).
	Latency  time.Duration
	Code     uint16
	Class    Class
	User     int
	Instance string
	// Route indexes the phase's Mix.Routes (0 without a mix); Refreshed
	// says the credential sent came from a refresh, not a login.
	Route     int
	Refreshed bool
}

// Loss is one session lost: user's credential rejected with 401 after it
// had been logged in. Instance is the one that last served the user
// before the loss.
type Loss struct {
	// At is when the 401 arrived, from the phase's start.
	At       time.Duration
	User     string
	Instance string
}

// Hook runs during a phase at offset At; it returns the instance it acted
// on (for the event) or an error that fails the phase.
type Hook struct {
	At   time.Duration
	Type string
	Do   func(ctx context.Context) (instance string, err error)
}

// Phase is one constant-rate attack.
type Phase struct {
	Name     string
	Rate     float64
	Duration time.Duration
	Hooks    []Hook
	// Mix, when set, draws each request's route (default: every request
	// is Config.Path by the drawn user).
	Mix *Mix
	// RefreshAhead, when > 0, is the phase's refresh-ahead margin in place
	// of Config.RefreshAhead.
	RefreshAhead time.Duration
}

// PhaseResult is everything a phase saw.
type PhaseResult struct {
	Name            string
	Rate            float64
	Duration        time.Duration
	Records         []Record
	Losses          []Loss
	Relogins        []time.Duration
	ReloginFailures int
	// Refreshes are the latencies of the access-token refreshes done ahead
	// of expiry (Config.RefreshAhead), RefreshFailures those that failed.
	Refreshes       []time.Duration
	RefreshFailures int
	// Logouts and LogoutFailures count the logout-then-login cycles' logouts
	// answered 2xx or not; CycleLogins are the latencies of the cycles'
	// logins, CycleLoginFailures their failed attempts.
	Logouts            int
	LogoutFailures     int
	CycleLogins        []time.Duration
	CycleLoginFailures int
	// RefreshMarks say who refreshed when (the refreshes that succeeded),
	// for the time between one user's refreshes (RefreshIntervals).
	RefreshMarks []RefreshMark
	CredBytes    int64
	Sent         int64
	// Events are the hooks that fired, their offsets rounded to the
	// millisecond for the report; EventAt gives the exact offset.
	Events []report.Event
	// eventAt is each event type's first exact offset from Start.
	eventAt map[string]time.Duration
	// Start is when the phase's attack began: the zero of every offset
	// (records, losses, events).
	Start time.Time
	// Wall is the phase's length until its last answer arrived, and
	// GeneratorCPU the CPU the harness process used meanwhile.
	Wall         time.Duration
	GeneratorCPU time.Duration

	// hops are the answered requests' Server-Timing (servertiming.go);
	// hopsMissing counts the answered ones without it.
	hops        []report.HopSample
	hopsMissing int
}

// RefreshMark is one refresh ahead of expiry: the user, and when its new
// pair arrived.
type RefreshMark struct {
	User int
	At   time.Time
}

// RefreshIntervals are the times between consecutive refreshes of the
// same user: the period at which an active user refreshes, free of the
// phase's start (every user's first token was issued at the initial
// login, so their first refreshes fall together and a count over a
// short phase depends on where the phase cuts the cycle).
func RefreshIntervals(marks []RefreshMark) []time.Duration {
	last := map[int]time.Time{}
	var out []time.Duration
	for _, m := range slices.SortedFunc(slices.Values(marks), func(a, b RefreshMark) int { return a.At.Compare(b.At) }) {
		if t, ok := last[m.User]; ok {
			out = append(out, m.At.Sub(t))
		}
		last[m.User] = m.At
	}
	return out
}

// Summary turns the phase into the load part of a report.Scenario.
func (pr *PhaseResult) Summary() report.Scenario {
	s := report.Scenario{
		Name:                   pr.Name,
		DurationS:              pr.Duration.Seconds(),
		RequestedRate:          pr.Rate,
		Requests:               len(pr.Records),
		Events:                 slices.Clone(pr.Events),
		SessionsLost:           len(pr.Losses),
		SessionsLostByInstance: map[string]int{},
		Relogins:               len(pr.Relogins),
		ReloginFailures:        pr.ReloginFailures,
		ReloginLatency:         report.Summarize(slices.Clone(pr.Relogins)),
		Refreshes:              len(pr.Refreshes),
		RefreshFailures:        pr.RefreshFailures,
	}
	if len(pr.Refreshes) > 0 {
		lat := report.Summarize(slices.Clone(pr.Refreshes))
		s.RefreshLatency = &lat
	}
	if iv := RefreshIntervals(pr.RefreshMarks); len(iv) > 0 {
		sum := report.Summarize(iv)
		s.RefreshInterval = &sum
	}
	if pr.Sent > 0 {
		s.CredentialBytes = report.Round3(float64(pr.CredBytes) / float64(pr.Sent))
	}
	lats := make([]time.Duration, len(pr.Records))
	nsec := int(math.Ceil(pr.Duration.Seconds()))
	if n := len(pr.Records); n > 0 {
		nsec = max(nsec, pr.second(pr.Records[n-1].At)+1)
	}
	secLats := make([][]time.Duration, nsec)
	s.Timeline = make([]report.Second, nsec)
	for i := range s.Timeline {
		s.Timeline[i].T = i
	}
	for i, r := range pr.Records {
		lats[i] = r.Latency
		if r.Class == ClassOK {
			s.OK++
		}
		Count(&s.Errors, r.Class)
		sec := pr.second(r.At)
		if sec < 0 || sec >= nsec {
			continue
		}
		t := &s.Timeline[sec]
		t.Requests++
		if r.Class == ClassOK {
			t.OK++
		}
		Count(&t.Errors, r.Class)
		secLats[sec] = append(secLats[sec], r.Latency)
	}
	for i, sl := range secLats {
		p := report.Summarize(sl)
		s.Timeline[i].P50, s.Timeline[i].P99, s.Timeline[i].Max = p.P50, p.P99, p.Max
	}
	for _, l := range pr.Losses {
		s.SessionsLostByInstance[l.Instance]++
		if sec := pr.second(l.At); sec >= 0 && sec < nsec {
			s.Timeline[sec].SessionLost++
		}
	}
	s.Latency = report.Summarize(lats)
	s.Hops = report.NewHops(pr.hops, pr.hopsMissing)
	s.AchievedRate = report.Round3(pr.achievedRate())
	s.Warnings = stallWarnings(pr.sentPerSecond(nsec), pr.Rate, pr.Duration)
	h := pr.Health()
	s.Load = &h
	if h.Saturated {
		s.Warnings = append(s.Warnings, "the load generator did not keep up ("+h.Reason+
			"): latencies include its own delay and are not the system's alone")
	}
	return s
}

// Health says whether the generator kept up during the phase (see the
// package function Health for the rule).
func (pr *PhaseResult) Health() report.LoadHealth {
	lags := make([]time.Duration, len(pr.Records))
	for i, r := range pr.Records {
		lags[i] = r.SendLag
	}
	return Health(pr.Rate, pr.achievedRate(), lagP99(lags), CPUPercent(pr.GeneratorCPU, pr.Wall))
}

// achievedRate is the rate at which requests were actually sent: the
// number sent over the span of their actual send times.
func (pr *PhaseResult) achievedRate() float64 {
	n := len(pr.Records)
	if n < 2 {
		return 0
	}
	first, last := pr.Records[0].Sent, pr.Records[0].Sent
	for _, r := range pr.Records[1:] {
		first, last = min(first, r.Sent), max(last, r.Sent)
	}
	if last <= first {
		return 0
	}
	return float64(n-1) / (last - first).Seconds()
}

// sentPerSecond counts the requests actually sent in each second.
func (pr *PhaseResult) sentPerSecond(nsec int) []int {
	out := make([]int, nsec)
	for _, r := range pr.Records {
		if sec := int(r.Sent / time.Second); sec >= 0 && sec < nsec {
			out[sec]++
		}
	}
	return out
}

// LostUsers returns the sorted distinct users that lost their session at
// or after from.
func (pr *PhaseResult) LostUsers(from time.Duration) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range pr.Losses {
		if l.At >= from && !seen[l.User] {
			seen[l.User] = true
			out = append(out, l.User)
		}
	}
	sort.Strings(out)
	return out
}

// EventAt returns when the phase's first event of type typ happened: its
// exact offset from Start (a hook's event in Events is rounded to the
// millisecond, which may date it after the requests it caused).
func (pr *PhaseResult) EventAt(typ string) (time.Duration, bool) {
	at, ok := pr.eventAt[typ]
	return at, ok
}

// LiveStats is a running phase's progress.
type LiveStats struct {
	Requests, OK, Lost, Relogins int
	// RecentP99Ms is the p99 of the requests answered in the last second.
	RecentP99Ms float64
}

// OKRate is OK/Requests (1 before any request).
func (s LiveStats) OKRate() float64 {
	if s.Requests == 0 {
		return 1
	}
	return float64(s.OK) / float64(s.Requests)
}

// stallWarnings flags seconds in which the load generator actually sent
// less than half of what it should have (sent[i] requests in second i):
// the machine (not the system under test) was too busy to keep the rate,
// and latencies around them are suspect.
func stallWarnings(sent []int, rate float64, dur time.Duration) []string {
	full := int(dur / time.Second) // the last partial second is expected to be short
	want := rate / 2
	if want < 1 {
		return nil
	}
	var stalled []string
	for i := 0; i < full && i < len(sent); i++ {
		if float64(sent[i]) < want {
			stalled = append(stalled, strconv.Itoa(i))
		}
	}
	if len(stalled) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("the load generator sent less than half the requested rate in second(s) %s: "+
		"the machine was overloaded (another process, or the harness itself), so latencies and errors around them are not the system's alone; re-run on a quiet machine",
		strings.Join(stalled, ", "))}
}

// second is the timeline second of intended send time at: second k holds
// (k s, k+1 s]. The pacer's hits are due at (seq+1)/rate, so each second
// holds exactly rate hits and the last one, due at Duration, is not a
// second of its own.
func (pr *PhaseResult) second(at time.Duration) int {
	if at <= 0 {
		return 0
	}
	return int((at - 1) / time.Second)
}
