package scenario

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/lb"
)

func ptr[T any](v T) *T { return &v }

// req is one record: sent at ms, answered with code by instance.
func req(ms int, code uint16, instance string) load.Record {
	cls := load.Classify(int(code), instance, true)
	return load.Record{At: time.Duration(ms) * time.Millisecond, Latency: time.Millisecond, Code: code, Class: cls, Instance: instance}
}

// TestClassifyFailover: each kill mode's outcome from a fixed timeline of
// answers and lb events.
func TestClassifyFailover(t *testing.T) {
	kill := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return kill.Add(time.Duration(ms) * time.Millisecond) }
	win := window{from: 1000 * time.Millisecond, to: 3000 * time.Millisecond}
	down := func(id string, ms int, why string) lb.Event {
		return lb.Event{Type: lb.EventDown, Instance: id, Wall: at(ms), Reason: why}
	}
	type want struct {
		detection              *float64
		detectedBy             string
		dead, failed, window   int
		lbFailed               *int
		sessionsLost, lostUser int
	}
	tests := []struct {
		name    string
		records []load.Record
		losses  []load.Loss
		events  []lb.Event
		failed  [2]*uint64
		want    want
	}{
		{
			name: "crash without retry: 502s from the dead instance until the passive detection",
			records: []load.Record{
				req(900, 502, "gw2"), // before the kill: not counted
				req(1010, 200, "gw1"),
				req(1020, 502, "gw2"),
				req(1030, 200, "gw3"),
				req(1040, 502, "gw2"),
				req(1100, 200, "gw1"),
				req(3500, 200, "gw2"), // revived
			},
			events: []lb.Event{
				{Type: lb.EventExit, Instance: "gw2", Wall: at(1)},
				down("gw2", 25, "passive: connection refused"),
			},
			failed: [2]*uint64{ptr[uint64](7), ptr[uint64](9)},
			want:   want{detection: ptr(0.025), detectedBy: "passive: connection refused", dead: 2, failed: 2, window: 2, lbFailed: ptr(2)},
		},
		{
			name: "crash with retry: no failed request, the lb's failed tries show the dead instance was tried",
			records: []load.Record{
				req(1010, 200, "gw1"), req(1020, 200, "gw3"), req(1030, 200, "gw1"),
			},
			events: []lb.Event{down("gw2", 20, "passive: connection reset by peer")},
			failed: [2]*uint64{ptr[uint64](0), ptr[uint64](1)},
			want:   want{detection: ptr(0.02), detectedBy: "passive: connection reset by peer", lbFailed: ptr(1)},
		},
		{
			name: "freeze: late answers from the frozen instance and a client timeout, detected by health checks",
			records: []load.Record{
				req(1100, 200, "gw2"), // answered after the SIGCONT
				req(1200, 0, ""),      // timed out at the client
				req(1300, 200, "gw1"),
				req(2000, 504, "gw2"),
			},
			events: []lb.Event{
				down("gw1", -100, "health check: earlier"), // before the kill: ignored
				down("gw2", 2400, "health check: context deadline exceeded"),
			},
			want: want{detection: nil, dead: 3, failed: 2, window: 2},
		},
		{
			name:    "freeze detected within the window",
			records: []load.Record{req(1100, 200, "gw2")},
			events:  []lb.Event{down("gw2", 1500, "health check: timeout")},
			want:    want{detection: ptr(1.5), detectedBy: "health check: timeout", dead: 1},
		},
		{
			name:    "announced: marked down at once, nothing reaches it",
			records: []load.Record{req(1010, 200, "gw1"), req(1020, 200, "gw3")},
			events:  []lb.Event{{Type: lb.EventKill, Instance: "gw2", Wall: at(0)}, down("gw2", 0, "kill")},
			failed:  [2]*uint64{ptr[uint64](0), ptr[uint64](0)},
			want:    want{detection: ptr(0.0), detectedBy: "kill", lbFailed: ptr(0)},
		},
		{
			name:    "sessions lost after the kill count, those before do not; errors after the revive are failed, not window errors",
			records: []load.Record{req(1500, 401, "gw1"), req(3200, 401, "gw3")},
			losses:  []load.Loss{{At: 500 * time.Millisecond, User: "u0"}, {At: 1501 * time.Millisecond, User: "u1"}, {At: 3201 * time.Millisecond, User: "u1"}},
			events:  []lb.Event{down("gw3", 10, "passive"), down("gw2", 30, "drain")},
			want:    want{detection: ptr(0.03), detectedBy: "drain", failed: 2, window: 1, sessionsLost: 2, lostUser: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr := &load.PhaseResult{Duration: 4 * time.Second, Records: tc.records, Losses: tc.losses}
			o := observation{Victim: "gw2", Mode: KillCrash, Window: win, KillWall: kill, Events: tc.events,
				FailedAtKill: tc.failed[0], FailedAtRevive: tc.failed[1]}
			f := classifyFailover(pr, pr.Summary().Timeline, o)
			w := tc.want
			if !eqPtr(f.DetectionS, w.detection) || f.DetectedBy != w.detectedBy {
				t.Errorf("detection %v by %q, want %v by %q", deref(f.DetectionS), f.DetectedBy, deref(w.detection), w.detectedBy)
			}
			if f.DeadInstanceRequests != w.dead || f.FailedRequests != w.failed || f.WindowErrors != w.window {
				t.Errorf("dead %d, failed %d, window errors %d; want %d, %d, %d",
					f.DeadInstanceRequests, f.FailedRequests, f.WindowErrors, w.dead, w.failed, w.window)
			}
			if !eqPtr(f.LBFailedTries, w.lbFailed) {
				t.Errorf("lb failed tries %v, want %v", deref(f.LBFailedTries), deref(w.lbFailed))
			}
			if f.SessionsLost != w.sessionsLost || len(f.LostUsers) != w.lostUser {
				t.Errorf("sessions lost %d (users %v), want %d (%d users)", f.SessionsLost, f.LostUsers, w.sessionsLost, w.lostUser)
			}
			if f.KillAtS != 1 || f.ReviveAtS != 3 || f.KillMode != KillCrash {
				t.Errorf("kill at %v, revive at %v, mode %q", f.KillAtS, f.ReviveAtS, f.KillMode)
			}
		})
	}
}

func eqPtr[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestClassifyFailoverRecovery: recovery is read from the timeline from the
// kill on.
func TestClassifyFailoverRecovery(t *testing.T) {
	var recs []load.Record
	for s := range 10 {
		for i := range 10 {
			code := uint16(http.StatusOK)
			if s == 1 && i < 5 {
				code = http.StatusBadGateway
			}
			recs = append(recs, req(s*1000+i*100, code, "gw1"))
		}
	}
	pr := &load.PhaseResult{Duration: 10 * time.Second, Records: recs}
	f := classifyFailover(pr, pr.Summary().Timeline, observation{Victim: "gw2", Window: window{time.Second, 5 * time.Second}})
	if f.RecoveryS == nil || *f.RecoveryS != 1 {
		t.Errorf("recovery %v, want 1 s (second 2 on)", deref(f.RecoveryS))
	}
	if f.DetectionS != nil || f.LBFailedTries != nil {
		t.Errorf("detection %v, lb failed %v without events or counters", deref(f.DetectionS), deref(f.LBFailedTries))
	}
}

func TestFailoverConfigValidate(t *testing.T) {
	var c FailoverConfig
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Modes, []string{KillCrash}) || !slices.Equal(c.Retry, []bool{false}) || c.FreezeFor != DefaultFreezeFor {
		t.Errorf("defaults %+v", c)
	}
	if got := c.LBArgs(); !slices.Equal(got, []string{"--ignore-exits"}) {
		t.Errorf("crash lb args %v", got)
	}
	c = FailoverConfig{Modes: []string{KillDrain, KillAnnounced, KillDrain}}
	if err := c.Validate(); err != nil || !slices.Equal(c.Modes, []string{KillAnnounced, KillDrain}) || c.LBArgs() != nil {
		t.Errorf("modes %v, lb args %v, err %v", c.Modes, c.LBArgs(), err)
	}
	for _, bad := range []FailoverConfig{
		{Modes: []string{"nuke"}},
		{Retry: []bool{true, true}},
		{FreezeFor: -time.Second},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
	if r, err := ParseRetry("both"); err != nil || !slices.Equal(r, []bool{false, true}) {
		t.Errorf("both → %v %v", r, err)
	}
	if _, err := ParseRetry("sometimes"); err == nil {
		t.Error("ParseRetry accepted sometimes")
	}
	if got := ParseKillModes("all"); !slices.Equal(got, KillModes()) {
		t.Errorf("all → %v", got)
	}
}

// retryingGateways is fakeGateways with the lb's retry switch.
type retryingGateways struct {
	*fakeGateways
	retry bool
}

func (g *retryingGateways) Retry(context.Context) (bool, error) { return g.retry, nil }

func (g *retryingGateways) SetRetry(_ context.Context, on bool) error {
	g.record(fmt.Sprintf("retry %v", on))
	g.retry = on
	return nil
}

// TestFailoverRunsEveryVariant: with retry both, the scenario runs a phase
// per setting, switches the lb's retry before each, restores it after, and
// reports the second phase as a variant of the first.
func TestFailoverRunsEveryVariant(t *testing.T) {
	env, fg := newEnv(t, 3, 12, false)
	g := &retryingGateways{fakeGateways: fg, retry: true}
	env.Gateways = g
	env.Config.Failover.Retry = []bool{false, true}
	s, err := Failover{}.Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"retry false", "kill gw2", "revive gw2", "retry true", "kill gw2", "revive gw2", "retry true"}
	if !slices.Equal(fg.calls, want) {
		t.Errorf("calls %v, want %v", fg.calls, want)
	}
	f := s.Failover
	if s.Name != FailoverName || f == nil || f.KillMode != KillAnnounced || f.Retry || len(f.Variants) != 1 {
		t.Fatalf("result %s %+v", s.Name, f)
	}
	v := f.Variants[0]
	if v.Name != "failover-announced-retry" || v.Failover == nil || !v.Failover.Retry || v.Requests == 0 {
		t.Errorf("variant %s %+v (%d requests)", v.Name, v.Failover, v.Requests)
	}
}
