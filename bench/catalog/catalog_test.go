package catalog

import (
	"slices"
	"testing"

	"github.com/authlab/authlab/strategies"
	strategycatalog "github.com/authlab/authlab/strategies/catalog"
)

// TestFactsFollowTheCatalogue: every fact the harness acts on is read from
// the strategy catalogue, for every strategy in it.
func TestFactsFollowTheCatalogue(t *testing.T) {
	all := strategycatalog.All()
	if !slices.Equal(Strategies(), strategycatalog.Names()) {
		t.Fatalf("Strategies() = %v, the catalogue lists %v", Strategies(), strategycatalog.Names())
	}
	for i, d := range all {
		if Rank(d.Name) != i || !Known(d.Name) {
			t.Errorf("%s: rank %d, known %v; want rank %d", d.Name, Rank(d.Name), Known(d.Name), i)
		}
		wantPolicy := PolicyRoundRobin
		if d.Needs.StickyLB {
			wantPolicy = PolicySticky
		}
		if got := DefaultPolicy(d.Name); got != wantPolicy || !slices.Contains(Policies(), got) {
			t.Errorf("DefaultPolicy(%s) = %s, want %s", d.Name, got, wantPolicy)
		}
		if got := Transport(d.Name); got != d.Traits.Transport {
			t.Errorf("Transport(%s) = %v, want %v", d.Name, got, d.Traits.Transport)
		}
		if HasCredential(d.Name) == d.Control {
			t.Errorf("HasCredential(%s) = %v for a control group = %v", d.Name, HasCredential(d.Name), d.Control)
		}
		if IsControl(d.Name) != d.Control {
			t.Errorf("IsControl(%s) wrong", d.Name)
		}
		if Refreshable(d.Name) != d.Traits.Refreshable {
			t.Errorf("Refreshable(%s) = %v, trait says %v", d.Name, Refreshable(d.Name), d.Traits.Refreshable)
		}
	}
	if Known("kerberos") || Rank("kerberos") != len(all) || HasCredential("kerberos") || Transport("kerberos") != "" || Refreshable("kerberos") {
		t.Errorf("an unknown strategy is known, ranked among the known, or has facts")
	}
	if Control() != strategycatalog.Control().Name || Rank(Control()) != 0 {
		t.Errorf("the control group %q is not the catalogue's, shown first", Control())
	}
	if n := FirstNeedingStickyLB(); n == "" || !KeepsSessionsInInstance(n) {
		t.Errorf("FirstNeedingStickyLB() = %q", n)
	}
	if Transport(Control()) != strategies.TransportNone {
		t.Errorf("the control group carries a credential")
	}
}
