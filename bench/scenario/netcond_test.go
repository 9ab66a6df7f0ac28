package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/report"
)

// step is one redis-rtt step with a p50 and commands per request (nil: not
// counted).
func step(rttMs, p50 float64, cmds *float64) report.RTTStep {
	return report.RTTStep{AddedRTTMs: rttMs, Latency: report.Percentiles{P50: p50}, RedisCommandsPerRequest: cmds}
}

func TestJudgeRTTSteps(t *testing.T) {
	type verdict struct {
		expect string
		holds  *bool
		growth float64
	}
	tests := []struct {
		name  string
		steps []report.RTTStep
		want  []verdict
	}{
		{
			name:  "stateful pays at least one RTT per step",
			steps: []report.RTTStep{step(0, 1.8, ptr(1.0)), step(0.5, 2.4, ptr(1.0)), step(2, 4.1, ptr(1.0))},
			want:  []verdict{{"", nil, 0}, {"≥ 1 RTT", ptr(true), 0.6}, {"≥ 1 RTT", ptr(true), 2.3}},
		},
		{
			name:  "stateful growing less than the RTT breaks the physics",
			steps: []report.RTTStep{step(0, 1.8, ptr(2.0)), step(2, 3.0, ptr(2.0))},
			want:  []verdict{{"", nil, 0}, {"≥ 1 RTT", ptr(false), 1.2}},
		},
		{
			name:  "stateless stays within noise (0.36 ms = a fifth of 1.8)",
			steps: []report.RTTStep{step(0, 1.8, ptr(0.0)), step(1, 2.1, ptr(0.0)), step(5, 1.5, ptr(0.01))},
			want:  []verdict{{"", nil, 0}, {"within noise", ptr(true), 0.3}, {"within noise", ptr(true), -0.3}},
		},
		{
			name:  "stateless beyond noise",
			steps: []report.RTTStep{step(0, 1.8, ptr(0.0)), step(5, 3.0, ptr(0.0))},
			want:  []verdict{{"", nil, 0}, {"within noise", ptr(false), 1.2}},
		},
		{
			name:  "partial Redis use and uncounted commands: no demand",
			steps: []report.RTTStep{step(0, 1.8, ptr(0.4)), step(2, 2.5, ptr(0.4)), step(5, 9, nil)},
			want:  []verdict{{"", nil, 0}, {"", nil, 0.7}, {"", nil, 7.2}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			judgeRTTSteps(tc.steps, rttNoise(tc.steps))
			for i, w := range tc.want {
				st := tc.steps[i]
				if st.Expect != w.expect || (st.Holds == nil) != (w.holds == nil) || (st.Holds != nil && *st.Holds != *w.holds) {
					t.Errorf("step %d: expect %q holds %v, want %q %v", i, st.Expect, st.Holds, w.expect, w.holds)
				}
				if d := st.P50GrowthMs - w.growth; d > 1e-9 || d < -1e-9 {
					t.Errorf("step %d: growth %v, want %v", i, st.P50GrowthMs, w.growth)
				}
				if c := st.RedisCommandsPerRequest; c != nil {
					if st.ExpectedGrowthMs == nil || *st.ExpectedGrowthMs != report.Round3(*c*st.AddedRTTMs) {
						t.Errorf("step %d: physics line %v, want %v × %v", i, st.ExpectedGrowthMs, *c, st.AddedRTTMs)
					}
				}
			}
		})
	}
}

// rec is one record sent at ms after the start, answered after lat ms with
// code (by a gateway unless code is 0).
func rec(atMs, latMs int, code uint16) load.Record {
	inst := "gw1"
	if code == 0 {
		inst = ""
	}
	return load.Record{At: time.Duration(atMs) * time.Millisecond, Latency: time.Duration(latMs) * time.Millisecond,
		Code: code, Class: load.Classify(int(code), inst, true), Instance: inst}
}

func TestHangFindings(t *testing.T) {
	cut := window{from: 1000 * time.Millisecond, to: 3000 * time.Millisecond}
	tests := []struct {
		name      string
		records   []load.Record
		requests  int
		ok, hung  int
		storeDown int
		first     *float64
		verdict   string
	}{
		{
			name: "stateful: 503 within the timeout, nothing hangs",
			records: []load.Record{
				rec(500, 2, 200),   // before the cut: not counted
				rec(990, 260, 503), // in flight at the cut: counted
				rec(1100, 270, 503),
				rec(2000, 520, 503),
				rec(3100, 2, 200), // after the heal
			},
			requests: 3, storeDown: 3, first: ptr(250.0), verdict: "Answered 503 rather than hanging",
		},
		{
			name:     "stateless keeps serving",
			records:  []load.Record{rec(1100, 2, 200), rec(2000, 3, 200)},
			requests: 2, ok: 2, verdict: "Kept serving",
		},
		{
			name:     "a hang: over the threshold, or no answer at all",
			records:  []load.Record{rec(1100, 1500, 503), rec(1200, 10000, 0), rec(1300, 260, 503)},
			requests: 3, hung: 2, storeDown: 2, first: ptr(560.0), verdict: "2 of 3 requests hung",
		},
		{
			name:     "failures without a gateway 503 (the lb's own)",
			records:  []load.Record{rec(1100, 2, 502)},
			requests: 1, verdict: "Failed without hanging",
		},
		{
			name:     "nothing met the cut",
			records:  []load.Record{rec(100, 2, 200)},
			requests: 0, verdict: "No request met the cut",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := hangFindings(tc.records, nil, cut)
			if h.DuringRequests != tc.requests || h.DuringOK != tc.ok || h.Hung != tc.hung || h.DuringErrors.StoreDown != tc.storeDown {
				t.Errorf("requests %d ok %d hung %d 503 %d, want %d %d %d %d",
					h.DuringRequests, h.DuringOK, h.Hung, h.DuringErrors.StoreDown, tc.requests, tc.ok, tc.hung, tc.storeDown)
			}
			if (h.FirstStoreDownAfterMs == nil) != (tc.first == nil) || (tc.first != nil && *h.FirstStoreDownAfterMs != *tc.first) {
				t.Errorf("first 503 after %v ms, want %v", h.FirstStoreDownAfterMs, tc.first)
			}
			if !strings.HasPrefix(h.Verdict, tc.verdict) {
				t.Errorf("verdict %q, want it to start with %q", h.Verdict, tc.verdict)
			}
			if h.HealAtS != 3 || h.CutAtS != 1 || h.RedisAttempts < 1 {
				t.Errorf("window/timeout fields: %+v", h)
			}
		})
	}
}

func TestNeedsRedisNet(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  bool
	}{
		{[]string{SteadyName, FailoverName}, false},
		{[]string{SteadyName, RedisRTTName}, true},
		{[]string{RedisHangName}, true},
		{[]string{RedisPartitionName}, false},
	} {
		if got := NeedsRedisNet(tc.names); got != tc.want {
			t.Errorf("NeedsRedisNet(%v) = %v, want %v", tc.names, got, tc.want)
		}
	}
}
