// Package strategies holds the contracts every authentication strategy
// implements and the Descriptor each one gives of itself. Implementations
// live in sub-packages (one per strategy); the catalog sub-package alone
// imports them all, lists them and builds one by name.
//
// Strategies are free of any HTTP framework: they turn a Principal into a
// Credential (Login), a raw credential back into a Principal (Authenticate)
// and invalidate a credential (Logout). Where the credential travels on the
// wire (cookie or bearer header) is the Transport's business.
package strategies

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authlab/authlab/internal/identity"
)

// Sentinel errors returned (possibly wrapped with %w) by strategies.
// The gateway maps ErrNoCredential and ErrInvalidCredential to 401 and any
// other error (a store that cannot be reached, typically ErrUnavailable) to 503.
var (
	// ErrNoCredential: the request carried no credential at all.
	ErrNoCredential = errors.New("no credential")
	// ErrInvalidCredential: the credential is malformed, forged, expired,
	// revoked or unknown.
	ErrInvalidCredential = errors.New("invalid credential")
	// ErrUnavailable: the state store the strategy depends on cannot be reached.
	ErrUnavailable = errors.New("credential store unavailable")
	// ErrNotSupported: the operation (for example refresh) does not exist
	// for this strategy.
	ErrNotSupported = errors.New("operation not supported by this strategy")
	// ErrReused: a single-use credential (a spent refresh token) was
	// presented again outside its grace window. It wraps
	// ErrInvalidCredential (the answer is still 401); the gateway also
	// writes an audit line, since reuse usually means a stolen token.
	ErrReused = fmt.Errorf("single-use credential reused: %w", ErrInvalidCredential)
)

// Credential is what a successful login hands to the client.
type Credential struct {
	// Token is the raw credential as it travels on the wire: a session id
	// cookie value, a JWT or an opaque token. Empty for the "none" strategy.
	Token string
	// ExpiresAt is when Token stops being accepted; zero means "no fixed
	// expiry" (for example a session that lives until logout).
	ExpiresAt time.Time
	// RefreshToken is set by strategies that support refresh (jwt).
	RefreshToken string
	// RefreshExpiresAt is when RefreshToken stops being accepted.
	RefreshExpiresAt time.Time
}

// TransportKind says where a strategy's credential travels.
type TransportKind string

// Transport kinds.
const (
	TransportNone   TransportKind = "none"
	TransportCookie TransportKind = "cookie"
	TransportBearer TransportKind = "bearer"
)

// Capabilities describe a built strategy's behaviour as configured: the
// gateway serves them on /_admin/stats, and they drive which assertions of
// the conformance suite apply. The strategy's Descriptor states the same
// facts (Needs, Traits) before anything is built, for its default flags;
// strategytest.CheckDescriptor holds the two to agreeing.
type Capabilities struct {
	// Transport is where the credential travels.
	Transport TransportKind `json:"transport"`
	// CookieName is the cookie's name when Transport is TransportCookie.
	CookieName string `json:"cookie_name,omitempty"`
	// Authenticates is false only for the "none" control group, which
	// accepts every request as the anonymous principal.
	Authenticates bool `json:"authenticates"`
	// RevokesImmediately is true when Logout makes the credential fail at
	// once on every instance sharing the strategy's state.
	RevokesImmediately bool `json:"revokes_immediately"`
	// SharedState is true when any instance can authenticate a credential
	// issued by another (given the same keys / store).
	SharedState bool `json:"shared_state"`
	// NeedsSticky is true when the strategy keeps state in one instance's
	// memory, so the load balancer must pin clients (Needs.StickyLB).
	NeedsSticky bool `json:"needs_sticky"`
	// UsesRedis is true when the strategy, as configured, talks to Redis
	// (Needs.Redis: the catalogue always gives it a client).
	UsesRedis bool `json:"uses_redis"`
	// Refreshable is true when the strategy implements Refresher.
	Refreshable bool `json:"refreshable"`
}

// Strategy is one way of proving who sent a request.
type Strategy interface {
	// Name is the strategy's name in the catalogue (its Descriptor's Name).
	Name() string
	// Capabilities describe the strategy's behaviour.
	Capabilities() Capabilities
	// Login issues a new credential for p. It never reuses a credential the
	// client may already hold (no session fixation).
	Login(ctx context.Context, p identity.Principal) (Credential, error)
	// Authenticate turns a raw credential into its principal. It returns
	// ErrNoCredential for an empty raw value, ErrInvalidCredential for any
	// credential it does not accept, and ErrUnavailable when its store
	// cannot be reached.
	Authenticate(ctx context.Context, raw string) (identity.Principal, error)
	// Logout invalidates raw according to the strategy's semantics. Logging
	// out an unknown or already invalid credential is not an error.
	Logout(ctx context.Context, raw string) error
}

// Refresher is implemented by strategies that exchange a refresh token for
// a new credential (jwt). A refresh token is single-use: presenting one that
// was already exchanged fails with an error wrapping ErrReused (and so
// ErrInvalidCredential), except that a strategy may answer a retry that
// comes within a short grace window, while the pair it issued is still
// unused, with that same pair (a client whose first answer was lost).
type Refresher interface {
	Refresh(ctx context.Context, refreshToken string) (Credential, identity.Principal, error)
}

// Checker is implemented by strategies with an external store; the gateway's
// /readyz calls it.
type Checker interface {
	Check(ctx context.Context) error
}

// Closer is implemented by strategies that hold background goroutines or
// connections (pub/sub subscribers, caches).
type Closer interface {
	Close() error
}
