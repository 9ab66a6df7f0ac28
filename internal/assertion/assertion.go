// Package assertion is the internal identity assertion the gateway hands to
// backend services: a short-lived HS256 JWT carrying the principal, signed
// with a key shared by the gateway and the services only. Services trust
// nothing else (no client header) and authorize roles themselves.
//
// The issuer reuses one assertion per principal until it is close to expiry,
// so its signing cost is not charged to every request. Its lifetime bounds
// how long a captured assertion can be replayed against a service directly,
// and so counts in the revocation lag the harness reports.
package assertion

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authlab/authlab/internal/identity"
)

// Header carries the assertion from gateway to services.
const Header = "X-Authlab-Assertion"

const (
	issuer   = "authlab-gateway"
	audience = "authlab-services"
	// DefaultTTL is the assertion lifetime.
	DefaultTTL = 30 * time.Second
	// maxCached bounds the issuer's cache; beyond it the cache is reset.
	maxCached = 100_000
)

// MaxLen bounds an assertion accepted by Verify; longer values are rejected
// before any parsing. An assertion is a few hundred bytes.
const MaxLen = 4096

// ErrInvalid is returned for a missing, malformed, forged or expired assertion.
var ErrInvalid = errors.New("invalid identity assertion")

type claims struct {
	Roles []string `json:"roles"`
	jwt.RegisteredClaims
}

// Issuer signs assertions, caching one per principal.
type Issuer struct {
	key []byte
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	token string
	exp   time.Time
}

// NewIssuer returns an Issuer signing with key (at least 32 bytes). A zero
// ttl means DefaultTTL; now may be nil (time.Now).
func NewIssuer(key []byte, ttl time.Duration, now func() time.Time) (*Issuer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("assertion key: %d bytes, need at least 32", len(key))
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Issuer{key: key, ttl: ttl, now: now, cache: map[string]cached{}}, nil
}

// Issue returns a valid assertion for p, reusing a cached one until the
// last quarter of its lifetime.
func (i *Issuer) Issue(p identity.Principal) (string, error) {
	ck := p.User + "\x00" + strings.Join(p.Roles, ",")
	now := i.now()
	i.mu.Lock()
	c, ok := i.cache[ck]
	i.mu.Unlock()
	if ok && now.Add(i.ttl/4).Before(c.exp) {
		return c.token, nil
	}
	exp := now.Add(i.ttl)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{
		Roles: p.Roles,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Audience:  jwt.ClaimStrings{audience},
			Subject:   p.User,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Second)),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}).SignedString(i.key)
	if err != nil {
		return "", fmt.Errorf("sign assertion: %w", err)
	}
	i.mu.Lock()
	if len(i.cache) >= maxCached {
		clear(i.cache)
	}
	i.cache[ck] = cached{token: tok, exp: exp}
	i.mu.Unlock()
	return tok, nil
}

// Verifier checks assertions.
type Verifier struct {
	key    []byte
	parser *jwt.Parser
}

// NewVerifier returns a Verifier for assertions signed with key. now may be
// nil (time.Now).
func NewVerifier(key []byte, now func() time.Time) (*Verifier, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("assertion key: %d bytes, need at least 32", len(key))
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(time.Second),
	}
	if now != nil {
		opts = append(opts, jwt.WithTimeFunc(now))
	}
	return &Verifier{key: key, parser: jwt.NewParser(opts...)}, nil
}

// Verify returns the principal of a valid assertion, or an error wrapping
// ErrInvalid.
func (v *Verifier) Verify(tok string) (identity.Principal, error) {
	if tok == "" {
		return identity.Principal{}, fmt.Errorf("%w: missing", ErrInvalid)
	}
	if len(tok) > MaxLen {
		return identity.Principal{}, fmt.Errorf("%w: too long", ErrInvalid)
	}
	var c claims
	if _, err := v.parser.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return v.key, nil }); err != nil {
		return identity.Principal{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if c.Subject == "" {
		return identity.Principal{}, fmt.Errorf("%w: no subject", ErrInvalid)
	}
	return identity.Principal{User: c.Subject, Roles: c.Roles}, nil
}
