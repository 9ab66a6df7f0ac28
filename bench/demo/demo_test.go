package demo

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/internal/e2e"
)

func TestEndToEndDemo(t *testing.T) {
	exe := e2e.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	outs, err := Run(ctx, Config{Exe: exe, Out: &out})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	// A strategy whose sessions live in one instance loses the session
	// with it (401); every other one carries on (200).
	for _, o := range outs {
		want := 200
		if catalog.KeepsSessionsInInstance(o.Strategy) {
			want = 401
		}
		if o.AfterStatus != want || o.After == o.Before || o.Before == "" {
			t.Errorf("%s: %+v, want status %d from another instance", o.Strategy, o, want)
		}
	}
	if len(outs) != len(DefaultStrategies()) || !strings.Contains(out.String(), "session lost") {
		t.Errorf("narration:\n%s", out.String())
	}
	if left := e2e.Leftovers(exe); len(left) > 0 {
		t.Errorf("processes left after the demo: %v", left)
	}
}
