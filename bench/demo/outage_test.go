package demo

import (
	"strings"
	"testing"
	"time"
)

// The narration states what was observed, not what was expected.
func TestNarrateOutage(t *testing.T) {
	tests := []struct {
		name string
		o    OutageOutcome
		want []string
	}{
		{"store looked up per request", OutageOutcome{Strategy: "redis-session", Requests: 1, Failed: true, FailedAfter: 3 * time.Millisecond, FailStatus: 503, LoginStatus: 503},
			[]string{"0× 200, then 503 for the request sent 3 ms after the stop", "answers 503 from the first request"}},
		{"cache", OutageOutcome{Strategy: "opaque", CacheTTL: 3 * time.Second, WarmedBefore: 200 * time.Millisecond, Requests: 29, OK: 28,
			Failed: true, FailedAfter: 2900 * time.Millisecond, FailStatus: 503, LoginStatus: 503},
			[]string{"28× 200, then 503 for the request sent 2.9 s after the stop", "cached the token", "for 3s", "Served for 3.1 s from the login"}},
		{"stateless token", OutageOutcome{Strategy: "jwt", Requests: 61, OK: 61, Watched: 6100 * time.Millisecond, LoginStatus: 503, RefreshStatus: 503},
			[]string{"61× 200, still serving 6.1 s after the stop", "a new login (503) and a refresh (503)"}},
		{"in memory", OutageOutcome{Strategy: "sticky", Requests: 61, OK: 61, Watched: 6100 * time.Millisecond, LoginStatus: 200},
			[]string{"still serving 6.1 s", "logins included (200)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			narrateOutage(&b, tt.o)
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("missing %q in:\n%s", w, b.String())
				}
			}
		})
	}
}
