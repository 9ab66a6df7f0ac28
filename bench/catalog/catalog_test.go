package catalog

import (
	"slices"
	"testing"
)

func TestFacts(t *testing.T) {
	tests := []struct {
		strategy   string
		policy     string
		carrier    Carrier
		credential bool
	}{
		{None, PolicyRoundRobin, CarrierNone, false},
		{Sticky, PolicySticky, CarrierCookie, true},
		{RedisSession, PolicyRoundRobin, CarrierCookie, true},
		{JWT, PolicyRoundRobin, CarrierBearer, true},
		{Opaque, PolicyRoundRobin, CarrierBearer, true},
	}
	for i, tc := range tests {
		if got := Strategies()[i]; got != tc.strategy || Rank(got) != i || !Known(got) {
			t.Errorf("strategy %d = %q (rank %d), want %q", i, got, Rank(got), tc.strategy)
		}
		if got := DefaultPolicy(tc.strategy); got != tc.policy || !slices.Contains(Policies(), got) {
			t.Errorf("DefaultPolicy(%s) = %s, want %s", tc.strategy, got, tc.policy)
		}
		if got := CarrierOf(tc.strategy); got != tc.carrier {
			t.Errorf("CarrierOf(%s) = %v, want %v", tc.strategy, got, tc.carrier)
		}
		if got := HasCredential(tc.strategy); got != tc.credential {
			t.Errorf("HasCredential(%s) = %v", tc.strategy, got)
		}
	}
	if Known("kerberos") || Rank("kerberos") != len(Strategies()) {
		t.Errorf("an unknown strategy is known or ranked among the known")
	}
	if Control != Strategies()[0] {
		t.Errorf("the control group %q is not shown first", Control)
	}
}
