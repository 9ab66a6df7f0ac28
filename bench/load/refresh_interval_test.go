package load

import (
	"slices"
	"testing"
	"time"
)

func TestRefreshIntervals(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name  string
		marks []RefreshMark
		want  []time.Duration
	}{
		{"none", nil, nil},
		{"one refresh each: no interval", []RefreshMark{{0, at(100)}, {1, at(200)}}, nil},
		{"per user, in time order whatever the order given",
			[]RefreshMark{{0, at(2100)}, {1, at(300)}, {0, at(100)}, {1, at(1800)}, {0, at(4000)}},
			[]time.Duration{1500 * time.Millisecond, 2000 * time.Millisecond, 1900 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RefreshIntervals(tt.marks); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
