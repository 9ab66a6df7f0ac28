package load

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/report"
)

func TestParseServerTiming(t *testing.T) {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	d := func(name string, v float64) Metric { return Metric{Name: name, Dur: ms(v), HasDur: true} }
	tests := []struct {
		name   string
		values []string
		want   []Metric
	}{
		{"empty", nil, nil},
		{"blank", []string{" , ,"}, nil},
		{"one", []string{"gw;dur=1.5"}, []Metric{d("gw", 1.5)}},
		{"gateway and lb", []string{"authn;dur=0.1, assert;dur=0.002, upstream;dur=0.4, gw;dur=0.7, lb;dur=1.25"},
			[]Metric{d("authn", 0.1), d("assert", 0.002), d("upstream", 0.4), d("gw", 0.7), d("lb", 1.25)}},
		{"several lines", []string{"gw;dur=1", "lb;dur=2"}, []Metric{d("gw", 1), d("lb", 2)}},
		{"spaces and case", []string{"  db ;  DUR = 3 ; desc=x "}, []Metric{d("db", 3)}},
		{"quoted desc with separators", []string{`cache;desc="hit, then; miss";dur=2, lb;dur=1`}, []Metric{d("cache", 2), d("lb", 1)}},
		{"quoted dur", []string{`x;dur="4"`}, []Metric{d("x", 4)}},
		{"escaped quote", []string{`x;desc="a\",b";dur=1`}, []Metric{d("x", 1)}},
		{"no dur", []string{"miss"}, []Metric{{Name: "miss"}}},
		{"bad dur", []string{"x;dur=fast, y;dur=-1, z;dur=NaN"}, []Metric{{Name: "x"}, {Name: "y"}, {Name: "z"}}},
		{"first dur wins", []string{"x;dur=1;dur=2"}, []Metric{d("x", 1)}},
		{"no name", []string{";dur=1, =2, lb;dur=3"}, []Metric{d("lb", 3)}},
		{"name with space", []string{"a b;dur=1"}, nil},
		{"unterminated quote", []string{`x;desc="open, lb;dur=1`}, []Metric{{Name: "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseServerTiming(tt.values); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseServerTiming(%q) = %+v, want %+v", tt.values, got, tt.want)
			}
		})
	}
}

func TestHopSample(t *testing.T) {
	h := http.Header{}
	h.Set(ServerTimingHeader, "authn;dur=0.3, assert;dur=0.1, upstream;dur=0.6, gw;dur=1.2, lb;dur=1.5")
	s, ok := hopSample(h, 2*time.Millisecond)
	want := report.HopSample{Client: 2 * time.Millisecond, LB: 1500 * time.Microsecond, GW: 1200 * time.Microsecond,
		Authn: 300 * time.Microsecond, Assert: 100 * time.Microsecond, Upstream: 600 * time.Microsecond}
	if !ok || s != want {
		t.Errorf("hopSample = %+v %v, want %+v", s, ok, want)
	}
	for _, v := range []string{"", "gw;dur=1", "lb;dur=1", "gw, lb;dur=1"} {
		h := http.Header{}
		if v != "" {
			h.Set(ServerTimingHeader, v)
		}
		if _, ok := hopSample(h, time.Millisecond); ok {
			t.Errorf("%q: a sample without both lb and gw durations", v)
		}
	}
	var pr PhaseResult
	pr.observeHops(http.Header{}, time.Millisecond)
	pr.observeHops(http.Header{ServerTimingHeader: {"gw;dur=1, lb;dur=2"}}, 3*time.Millisecond)
	if len(pr.hops) != 1 || pr.hopsMissing != 1 {
		t.Errorf("hops %d missing %d, want 1 and 1", len(pr.hops), pr.hopsMissing)
	}
	if got := pr.Summary().Hops; got == nil || got.Requests != 1 || got.Missing != 1 {
		t.Errorf("summary hops %+v", got)
	}
}
