// Package catalog is what the harness needs to know about the strategies
// and the lb's policies, read from their one source: the strategy catalogue
// (strategies/catalog) and the lb's policy list. It spells no strategy or
// policy name itself; adding a strategy to the catalogue adds it here.
package catalog

import (
	"slices"

	"github.com/authlab/authlab/lb"
	"github.com/authlab/authlab/strategies"
	strategycatalog "github.com/authlab/authlab/strategies/catalog"
)

// Strategies returns every strategy in display order (reports, comparison
// columns).
func Strategies() []string { return strategycatalog.Names() }

// Default is the strategy commands use when none is given.
func Default() string { return strategycatalog.Default }

// Known reports whether name is a strategy.
func Known(name string) bool {
	_, err := strategycatalog.Lookup(name)
	return err == nil
}

// Describe returns strategy's descriptor (ok false for an unknown name).
func Describe(name string) (strategies.Descriptor, bool) {
	d, err := strategycatalog.Lookup(name)
	return d, err == nil
}

// Control is the control group every other strategy is compared with.
func Control() string { return strategycatalog.Control().Name }

// IsControl reports whether name is the control group.
func IsControl(name string) bool { return strategycatalog.IsControl(name) }

// Rank is name's position in display order; unknown names come after every
// known one.
func Rank(name string) int {
	names := Strategies()
	if i := slices.Index(names, name); i >= 0 {
		return i
	}
	return len(names)
}

// HasCredential reports whether a strategy hands its users a credential
// (one a logout can revoke): every strategy but the control group.
func HasCredential(strategy string) bool { return Known(strategy) && !IsControl(strategy) }

// Refreshable reports whether a strategy hands out refresh tokens its
// users exchange for a new access token at POST /auth/refresh (its
// descriptor's Refreshable trait).
func Refreshable(strategy string) bool {
	d, ok := Describe(strategy)
	return ok && d.Traits.Refreshable
}

// KeepsSessionsInInstance reports whether a strategy's sessions live in
// one gateway's memory, so they die with it and need a sticky lb.
func KeepsSessionsInInstance(strategy string) bool { return strategycatalog.NeedsStickyLB(strategy) }

// Transport returns how strategy's credential travels ("" for an unknown
// name).
func Transport(strategy string) strategies.TransportKind {
	d, ok := Describe(strategy)
	if !ok {
		return ""
	}
	return d.Traits.Transport
}

// Policies returns every lb policy.
func Policies() []string {
	var out []string
	for _, p := range lb.Policies() {
		out = append(out, string(p))
	}
	return out
}

// PolicySticky is the lb policy that pins a client to an instance.
const PolicySticky = string(lb.Sticky)

// PolicyRoundRobin is the lb's default policy.
const PolicyRoundRobin = string(lb.RoundRobin)

// DefaultPolicy is the lb policy a strategy needs: sessions kept in one
// instance's memory need the sticky policy.
func DefaultPolicy(strategy string) string {
	if KeepsSessionsInInstance(strategy) {
		return PolicySticky
	}
	return PolicyRoundRobin
}

// FirstNeedingStickyLB returns the first strategy, in display order, whose
// sessions die with their instance ("" when there is none).
func FirstNeedingStickyLB() string {
	for _, n := range Strategies() {
		if KeepsSessionsInInstance(n) {
			return n
		}
	}
	return ""
}
