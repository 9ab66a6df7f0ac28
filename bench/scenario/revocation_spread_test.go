package scenario

import (
	"context"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/load"
)

func TestSpreadDelays(t *testing.T) {
	tests := []struct {
		n      int
		spread time.Duration
		want   []time.Duration
	}{
		{1, 10 * time.Second, []time.Duration{5 * time.Second}},
		{4, 4 * time.Second, []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond, 2500 * time.Millisecond, 3500 * time.Millisecond}},
		{0, time.Second, []time.Duration{}},
	}
	for _, tt := range tests {
		got := SpreadDelays(tt.n, tt.spread)
		if len(got) != len(tt.want) {
			t.Fatalf("SpreadDelays(%d, %v) = %v, want %v", tt.n, tt.spread, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("SpreadDelays(%d, %v)[%d] = %v, want %v", tt.n, tt.spread, i, got[i], tt.want[i])
			}
			// Every delay is inside the spread: no logout after the
			// token's lifetime.
			if got[i] < 0 || got[i] >= tt.spread {
				t.Errorf("delay %v outside [0, %v)", got[i], tt.spread)
			}
		}
	}
}

func TestRevocationSpreadValidated(t *testing.T) {
	c := Config{Strategy: "jwt", Users: 10, Rate: 10, Duration: time.Second, RevocationSpread: -time.Second}
	if err := c.Validate(); err == nil {
		t.Fatal("a negative revocation spread was accepted")
	}
}

// TestRevocationSpreadRevokesEveryPair: with a spread, the sampled users
// log in afresh, log out at spread moments, every (user, instance) pair is
// polled to its 401, the report says how it was measured, and the users
// are logged back in (the load after it has no error).
func TestRevocationSpreadRevokesEveryPair(t *testing.T) {
	env, _ := newEnv(t, 2, 4, true)
	env.Config.RevocationSpread = 300 * time.Millisecond
	s, err := Revocation{}.Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	v := s.Revocation
	if v == nil || v.Pairs != 4 || v.Lag.Count != 4 || v.NotRevoked != 0 || v.SpreadS != 0.3 {
		t.Fatalf("revocation = %+v", v)
	}
	pr, err := env.Driver.Run(context.Background(), load.Phase{Name: "after", Rate: 100, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if s := pr.Summary(); s.Errors.Total() != 0 {
		t.Errorf("errors after re-login: %+v", s.Errors)
	}
}
