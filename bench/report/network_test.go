package report

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestNetworkOf(t *testing.T) {
	if n := NetworkOf(0, 0, 0, 0); n != nil {
		t.Errorf("nothing added: %+v, want nil", n)
	}
	n := NetworkOf(2*time.Millisecond, 200*time.Microsecond, 0, 0)
	if n == nil || *n != (Network{UpstreamLatencyMs: 2, UpstreamJitterMs: 0.2}) {
		t.Errorf("upstream 2ms ± 200µs: %+v", n)
	}
}

// TestSettingsStateNetwork: report.md's settings and report.json's
// settings state the added latency when there is some, and nothing
// otherwise; so does a paired run's.
func TestSettingsStateNetwork(t *testing.T) {
	tests := []struct {
		name     string
		net      *Network
		wantMD   []string
		wantJSON string
	}{
		{"none", nil, nil, ""},
		{"upstream", NetworkOf(2*time.Millisecond, 0, 0, 0),
			[]string{"lb↔gateway +2 ms ± 0 ms", "gateway↔Redis none"}, `"network":{"upstream_latency_ms":2,"upstream_jitter_ms":0,"redis_latency_ms":0,"redis_jitter_ms":0}`},
		{"both", NetworkOf(time.Millisecond, 500*time.Microsecond, 3*time.Millisecond, 0),
			[]string{"lb↔gateway +1 ms ± 0.500 ms", "gateway↔Redis +3 ms ± 0 ms"}, `"upstream_jitter_ms":0.5`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var md strings.Builder
			renderSettings(&md, Settings{Strategy: "jwt", Network: tc.net})
			var pmd strings.Builder
			if err := RenderPaired(&pmd, &PairedRun{Settings: PairedSettings{Network: tc.net}}); err != nil {
				t.Fatal(err)
			}
			for _, out := range []string{md.String(), pmd.String()} {
				if has := strings.Contains(out, "Network latency added"); has != (tc.net != nil) {
					t.Errorf("network line present: %v, want %v:\n%s", has, tc.net != nil, out)
				}
				for _, w := range tc.wantMD {
					if !strings.Contains(out, w) {
						t.Errorf("settings lack %q:\n%s", w, out)
					}
				}
			}
			b, err := json.Marshal(Settings{Network: tc.net})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantJSON == "" && strings.Contains(string(b), "network") || !strings.Contains(string(b), tc.wantJSON) {
				t.Errorf("settings JSON %s, want %q", b, tc.wantJSON)
			}
		})
	}
}
