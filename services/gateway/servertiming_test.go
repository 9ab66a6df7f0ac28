package gateway

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// timings parses a Server-Timing value of name;dur=ms entries in order.
func timings(t *testing.T, v string) ([]string, map[string]float64) {
	t.Helper()
	var names []string
	durs := map[string]float64{}
	for _, e := range strings.Split(v, ",") {
		name, dur, ok := strings.Cut(strings.TrimSpace(e), ";dur=")
		if !ok {
			t.Fatalf("entry %q of %q: no ;dur=", e, v)
		}
		f, err := strconv.ParseFloat(dur, 64)
		if err != nil || f < 0 {
			t.Fatalf("entry %q of %q: bad duration", e, v)
		}
		names = append(names, name)
		durs[name] = f
	}
	return names, durs
}

func TestServerTimingOnProxiedResponse(t *testing.T) {
	f := newFixture(t)
	resp, _ := f.do(t, "GET", "/api/me", "", map[string]string{"Authorization": "Bearer good"})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	vs := resp.Header.Values(ServerTimingHeader)
	if len(vs) != 1 {
		t.Fatalf("Server-Timing %q, want one value", vs)
	}
	names, d := timings(t, vs[0])
	if got := strings.Join(names, ","); got != "authn,assert,upstream,gw" {
		t.Fatalf("entries %s in %q, want authn,assert,upstream,gw", got, vs[0])
	}
	// The three are disjoint intervals inside the gateway's own (allow
	// the rounding of each to a microsecond).
	if sum := d["authn"] + d["assert"] + d["upstream"]; d["gw"]+0.003 < sum {
		t.Errorf("gw %v < authn+assert+upstream %v (%q)", d["gw"], sum, vs[0])
	}
	if d["upstream"] <= 0 {
		t.Errorf("upstream %v: a round trip over a socket takes time (%q)", d["upstream"], vs[0])
	}
}

func TestServerTimingOnRefusedRequest(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		tok    string
		status int
	}{{"forged", 401}, {"down", 503}} {
		resp, _ := f.do(t, "GET", "/api/me", "", map[string]string{"Authorization": "Bearer " + tc.tok})
		if resp.StatusCode != tc.status {
			t.Fatalf("%s: status %d, want %d", tc.tok, resp.StatusCode, tc.status)
		}
		names, _ := timings(t, resp.Header.Get(ServerTimingHeader))
		if got := strings.Join(names, ","); got != "authn,gw" {
			t.Errorf("%s: entries %s, want authn,gw", tc.tok, got)
		}
	}
}

func TestServerTimingFormat(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	st := &reqState{start: base, authn: 1234567 * time.Nanosecond, assert: 2 * time.Microsecond,
		upstreamStart: base.Add(2 * time.Millisecond)}
	got := st.serverTiming(base.Add(5 * time.Millisecond))
	want := "authn;dur=1.235, assert;dur=0.002, upstream;dur=3.000, gw;dur=5.000"
	if got != want {
		t.Errorf("serverTiming = %q, want %q", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { _ = st.serverTiming(base) }); n > 1 {
		t.Errorf("serverTiming allocates %v times, want 1 (the string)", n)
	}
}
