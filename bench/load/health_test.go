package load

import (
	"context"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authlab/authlab/bench/load/loadtest"
)

// TestPacingTime: latency counts from the intended send time
// start + (seq+1)·interval, so a request the generator sent late carries
// its lag in its latency; one sent on time does not.
func TestPacingTime(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// vegeta's ConstantPacer for 200 req/s as the driver builds it.
	p := newPacing(start, 200000, 1000*time.Second)
	if p.interval != 5*time.Millisecond {
		t.Fatalf("interval = %s, want 5ms", p.interval)
	}
	ms := time.Millisecond
	tests := []struct {
		name     string
		seq      uint64
		sentAt   time.Duration
		lat      time.Duration
		intended time.Duration
		lag      time.Duration
		latency  time.Duration
	}{
		{"first request on time", 0, 5 * ms, 1 * ms, 5 * ms, 0, 1 * ms},
		{"on time later", 99, 500 * ms, 2 * ms, 500 * ms, 0, 2 * ms},
		{"sent 30 ms late", 9, 80 * ms, 1 * ms, 50 * ms, 30 * ms, 31 * ms},
		{"a stall of one second", 199, 2 * time.Second, 1 * ms, time.Second, time.Second, time.Second + ms},
		// A worker that won the race for a sequence number a hair before
		// its tick: never a negative lag.
		{"early by a microsecond", 4, 25*ms - time.Microsecond, ms, 25 * ms, 0, ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := p.time(tc.seq, start.Add(tc.sentAt), tc.lat)
			if got.Intended != tc.intended || got.Lag != tc.lag || got.Latency != tc.latency || got.Sent != tc.sentAt {
				t.Errorf("time(%d, +%s, %s) = %+v, want intended %s lag %s latency %s",
					tc.seq, tc.sentAt, tc.lat, got, tc.intended, tc.lag, tc.latency)
			}
		})
	}
}

func TestLagBound(t *testing.T) {
	tests := []struct {
		rate float64
		want time.Duration
	}{
		{50, 10 * time.Millisecond},  // two intervals = 40 ms, capped
		{200, 10 * time.Millisecond}, // two intervals
		{1000, 2 * time.Millisecond},
		{10000, time.Millisecond}, // 0.2 ms, floored
		{0, 10 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := lagBound(tc.rate); got != tc.want {
			t.Errorf("lagBound(%v) = %s, want %s", tc.rate, got, tc.want)
		}
	}
}

// TestHealth: the saturation rule on fixed inputs.
func TestHealth(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name                 string
		requested, achieved  float64
		lag                  time.Duration
		cpu                  float64
		saturated            bool
		reasonHas, reasonNot []string
	}{
		{"kept up", 200, 199.8, 2 * ms, 12, false, nil, []string{"achieved", "lag", "CPU"}},
		{"achieved exactly 95%", 200, 190, 0, 10, false, nil, nil},
		{"achieved below 95%", 200, 189.9, 0, 10, true, []string{"achieved 190 of 200"}, []string{"lag", "CPU"}},
		{"lag over 10 ms at 200 req/s", 200, 200, 11 * ms, 10, true, []string{"send lag p99 11 ms > 10 ms"}, []string{"achieved"}},
		{"lag 3 ms is two intervals over at 1000 req/s", 1000, 1000, 3 * ms, 10, true, []string{"> 2 ms"}, nil},
		{"lag 3 ms is fine at 200 req/s", 200, 200, 3 * ms, 10, false, nil, nil},
		{"generator near a core", 2000, 2000, 0, 93, true, []string{"generator CPU 93%"}, []string{"lag"}},
		{"everything at once", 4000, 2500, 50 * ms, 150, true, []string{"achieved", "lag", "CPU"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := Health(tc.requested, tc.achieved, tc.lag, tc.cpu)
			if h.Saturated != tc.saturated {
				t.Fatalf("saturated = %v (%q), want %v", h.Saturated, h.Reason, tc.saturated)
			}
			if !tc.saturated && h.Reason != "" {
				t.Errorf("reason %q for a phase that kept up", h.Reason)
			}
			for _, s := range tc.reasonHas {
				if !strings.Contains(h.Reason, s) {
					t.Errorf("reason %q lacks %q", h.Reason, s)
				}
			}
			for _, s := range tc.reasonNot {
				if strings.Contains(h.Reason, s) {
					t.Errorf("reason %q mentions %q", h.Reason, s)
				}
			}
			if h.RequestedRate != tc.requested || h.SendLagP99Ms != float64(tc.lag)/1e6 {
				t.Errorf("health %+v does not carry its inputs", h)
			}
		})
	}
}

// TestSummaryHealth: a phase whose generator fell behind for its last
// part is reported saturated, with achieved rate from the actual send
// times and the timeline by intended time.
func TestSummaryHealth(t *testing.T) {
	pr := &PhaseResult{Name: "steady", Rate: 100, Duration: 2 * time.Second, Wall: 2 * time.Second, GeneratorCPU: 200 * time.Millisecond}
	interval := 10 * time.Millisecond
	for i := range 200 {
		at := time.Duration(i+1) * interval
		sent, lag := at, time.Duration(0)
		if i >= 150 { // the last 50 went out in a burst at 2 s
			sent, lag = 2*time.Second, 2*time.Second-at
		}
		pr.Records = append(pr.Records, Record{At: at, Sent: sent, SendLag: lag, Latency: lag + time.Millisecond, Class: ClassOK})
	}
	s := pr.Summary()
	if s.Load == nil || !s.Load.Saturated || !strings.Contains(s.Load.Reason, "send lag") {
		t.Fatalf("load health %+v, want saturated by send lag", s.Load)
	}
	if s.Load.GeneratorCPUPercent != 10 {
		t.Errorf("generator CPU %v%%, want 10", s.Load.GeneratorCPUPercent)
	}
	// Intended times put 100 requests in each second, (0, 1 s] and
	// (1 s, 2 s]: the burst is not hidden in a second 2 of its own.
	if len(s.Timeline) != 2 || s.Timeline[0].Requests != 100 || s.Timeline[1].Requests != 100 {
		t.Errorf("timeline %+v", s.Timeline[:2])
	}
	if s.Timeline[1].Max < 400 {
		t.Errorf("second 1 max %v ms: the late sends' wait is missing", s.Timeline[1].Max)
	}
	if len(s.Warnings) == 0 {
		t.Error("no warning for a saturated phase")
	}
}

// TestMeasureFloor: the floor runs the load against the in-process echo
// server and reports its latency and load health.
func TestMeasureFloor(t *testing.T) {
	f, err := MeasureFloor(context.Background(), Config{BaseURL: "http://placeholder", Users: 5}, 100, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if f.Rate != 100 || f.Latency.Count < 50 || f.Latency.Count > 101 || f.Load == nil || f.Load.RequestedRate != 100 {
		t.Errorf("floor %+v load %+v", f, f.Load)
	}
}

// TestLoginAllSplit: the hook runs between the halves and the second half
// counts its own logins; everyone ends logged in.
func TestLoginAllSplit(t *testing.T) {
	_, srv := loadtest.NewCluster(t, 2, true)
	d, err := New(Config{BaseURL: srv.URL, Users: 9, Password: loadtest.Password})
	if err != nil {
		t.Fatal(err)
	}
	var before, n int
	login, err := d.LoginAllSplit(context.Background(), func(secondHalf func() int) {
		before = loggedIn(d)
		n = secondHalf()
	})
	if err != nil {
		t.Fatal(err)
	}
	if before != 4 || n != 5 || loggedIn(d) != 9 || login.Users != 9 || login.Latency.Count != 9 {
		t.Errorf("first half %d, second half %d, logged in %d, login %+v", before, n, loggedIn(d), login)
	}
}

func loggedIn(d *Driver) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, u := range d.users {
		if u.loggedIn {
			n++
		}
	}
	return n
}

// TestScheduleLatency: the exported schedule counts from the same
// intended send time as a phase's, (seq+1)·interval after the start.
func TestScheduleLatency(t *testing.T) {
	start := time.Unix(1000, 0)
	_, pacer := NewAttack(time.Second, 100) // 10 ms apart
	s := NewSchedule(start, pacer)
	for _, tt := range []struct {
		seq       uint64
		sent, lat time.Duration
		want      time.Duration
	}{
		{0, 10 * time.Millisecond, 2 * time.Millisecond, 2 * time.Millisecond},  // on time
		{4, 50 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond},  // on time
		{4, 57 * time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond}, // 7 ms late
		{9, 95 * time.Millisecond, time.Millisecond, time.Millisecond},          // early: no credit
	} {
		r := &vegeta.Result{Seq: tt.seq, Timestamp: start.Add(tt.sent), Latency: tt.lat}
		if got := s.Latency(r); got != tt.want {
			t.Errorf("seq %d sent at %v: latency %v, want %v", tt.seq, tt.sent, got, tt.want)
		}
	}
}
