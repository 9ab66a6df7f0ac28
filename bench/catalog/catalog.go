// Package catalog is what the harness knows about the strategies and the
// lb's policies: their names, the order reports show them in, and the few
// facts the harness acts on (which strategy needs a sticky lb, which has a
// credential to revoke, how its credential travels).
//
// It is the only place under bench/ that spells a strategy's or a policy's
// name. It stands in for the strategy catalogue of issue 9 until that
// lands; then these functions read the catalogue (or this package goes).
// It imports nothing, so every harness package, report included, may use it.
package catalog

import "slices"

// Strategy names, as the gateway's --strategy takes them.
const (
	None         = "none"
	Sticky       = "sticky"
	RedisSession = "redis-session"
	JWT          = "jwt"
	Opaque       = "opaque"
)

// Control is the control group every other strategy is compared with.
const Control = None

// Strategies returns every strategy in display order (reports, comparison
// columns).
func Strategies() []string { return []string{None, Sticky, RedisSession, JWT, Opaque} }

// Known reports whether name is a strategy.
func Known(name string) bool { return slices.Contains(Strategies(), name) }

// Rank is name's position in display order; unknown names come after every
// known one.
func Rank(name string) int {
	if i := slices.Index(Strategies(), name); i >= 0 {
		return i
	}
	return len(Strategies())
}

// HasCredential reports whether a strategy hands its users a credential
// (one a logout can revoke): every strategy but the control group.
func HasCredential(strategy string) bool { return strategy != None }

// KeepsSessionsInInstance reports whether a strategy's sessions live in
// one gateway's memory, so they die with it and need a sticky lb.
func KeepsSessionsInInstance(strategy string) bool { return strategy == Sticky }

// Carrier is how a strategy's credential travels.
type Carrier int

// Carriers.
const (
	CarrierNone   Carrier = iota // no credential (the control group)
	CarrierCookie                // a session cookie
	CarrierBearer                // Authorization: Bearer
)

// CarrierOf returns how strategy's credential travels.
func CarrierOf(strategy string) Carrier {
	switch strategy {
	case None:
		return CarrierNone
	case Sticky, RedisSession:
		return CarrierCookie
	}
	return CarrierBearer
}

// lb policy names, as the lb's --policy takes them.
const (
	PolicyRoundRobin = "round-robin"
	PolicyLeastConn  = "least-conn"
	PolicySticky     = "sticky"
)

// Policies returns every lb policy.
func Policies() []string { return []string{PolicyRoundRobin, PolicyLeastConn, PolicySticky} }

// DefaultPolicy is the lb policy a strategy needs: sessions kept in one
// instance's memory need the sticky policy.
func DefaultPolicy(strategy string) string {
	if KeepsSessionsInInstance(strategy) {
		return PolicySticky
	}
	return PolicyRoundRobin
}
