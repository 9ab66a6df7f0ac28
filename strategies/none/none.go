// Package none is the control group: no authentication at all. Every request
// is forwarded as the anonymous principal, so a run with this strategy
// measures the cost of the chain (lb, gateway, assertion, backend) alone.
package none

import (
	"context"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
)

// Name is the strategy's name in the catalogue.
const Name = "none"

// Anonymous is the principal every request gets.
var Anonymous = identity.Principal{User: "anonymous", Roles: []string{identity.RoleUser}}

// Strategy is the control-group strategy.
type Strategy struct{}

// New returns the control-group strategy.
func New() *Strategy { return &Strategy{} }

// Name implements strategies.Strategy.
func (*Strategy) Name() string { return Name }

// Capabilities implements strategies.Strategy.
func (*Strategy) Capabilities() strategies.Capabilities {
	return strategies.Capabilities{Transport: strategies.TransportNone, SharedState: true}
}

// Login issues nothing: there is no credential.
func (*Strategy) Login(context.Context, identity.Principal) (strategies.Credential, error) {
	return strategies.Credential{}, nil
}

// Authenticate accepts anything as the anonymous principal.
func (*Strategy) Authenticate(context.Context, string) (identity.Principal, error) {
	return Anonymous.Clone(), nil
}

// Logout does nothing.
func (*Strategy) Logout(context.Context, string) error { return nil }
