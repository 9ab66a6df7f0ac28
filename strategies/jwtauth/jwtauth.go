// Package jwtauth is the "jwt" strategy: a short-lived signed access token
// (HS256 or EdDSA) carried as a bearer token, plus an opaque single-use
// refresh token kept in Redis with rotation and reuse detection.
//
// Authenticate verifies the access token locally and, unless the denylist is
// on, never talks to Redis: a Redis outage leaves authentication untouched,
// and a logout only takes effect when the access token expires. With the
// denylist on, Logout revokes the access token at once on every instance at
// the price of one Redis round trip per request.
//
// Redis is needed for refresh tokens and revocation: Login, Refresh and
// Logout fail with strategies.ErrUnavailable while it is down (nothing is
// issued, spent or revoked), whereas Authenticate without the denylist
// never sends it a command.
//
// Refresh tokens are single-use and rotate within a session family (a login
// and every refresh descended from it), which has an absolute lifetime. A
// retry within a short grace window gets the pair already issued; any other
// second presentation revokes the family (see Strategy.Refresh).
//
// Redis layout (prefix "authlab:jwt:"); tokens appear only as HMAC
// fingerprints or sealed under a key derived from a spent token; family ids
// are hash-tagged so that a family's keys share a Redis Cluster slot (a
// refresh token carries its family id for that reason):
//
//	{<family>}:rt:<fingerprint(refresh token)>        JSON{user, roles, family start, expiry[, spent at, fingerprint(next)]}  TTL ≤ RefreshTTL
//	{<family>}:rt:<fingerprint(refresh token)>:grace  AES-GCM(pair issued for it) under HKDF(refresh token)                     TTL RefreshGrace
//	{<family>}:revoked                                "1"  family revoked (logout or reuse)
//	{<family>}:deny:<jti>                             "1"  access token denylisted until its exp
package jwtauth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
)

// Name is the strategy's name in the catalogue.
const Name = "jwt"

// TokenType is the "typ" header of access tokens (RFC 9068); tokens with
// another type are rejected, so no other JWT signed with the same key passes.
const TokenType = "at+jwt"

const (
	keyPrefix = "authlab:jwt:"
	idBytes   = 16 // jti and family id: 128 bits
)

// Claims are the claims of an access token. Times are Unix seconds, zero
// when absent; "aud" is a single string. The flat layout (rather than
// jwt.RegisteredClaims, whose NumericDate and ClaimStrings fields each run a
// nested json.Unmarshal) makes verification ~30% cheaper; validation is
// still the library's (jwt.Validator through the getters below).
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  string   `json:"aud"`
	ExpiresAt int64    `json:"exp,omitempty"`
	NotBefore int64    `json:"nbf,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	ID        string   `json:"jti"`
	Roles     []string `json:"roles"`
	SessionID string   `json:"sid"`
}

var _ jwt.Claims = (*Claims)(nil)

func numericDate(sec int64) (*jwt.NumericDate, error) {
	if sec == 0 {
		return nil, nil
	}
	return jwt.NewNumericDate(time.Unix(sec, 0)), nil
}

// GetExpirationTime implements jwt.Claims.
func (c *Claims) GetExpirationTime() (*jwt.NumericDate, error) { return numericDate(c.ExpiresAt) }

// GetNotBefore implements jwt.Claims.
func (c *Claims) GetNotBefore() (*jwt.NumericDate, error) { return numericDate(c.NotBefore) }

// GetIssuedAt implements jwt.Claims.
func (c *Claims) GetIssuedAt() (*jwt.NumericDate, error) { return numericDate(c.IssuedAt) }

// GetIssuer implements jwt.Claims.
func (c *Claims) GetIssuer() (string, error) { return c.Issuer, nil }

// GetSubject implements jwt.Claims.
func (c *Claims) GetSubject() (string, error) { return c.Subject, nil }

// GetAudience implements jwt.Claims.
func (c *Claims) GetAudience() (jwt.ClaimStrings, error) {
	if c.Audience == "" {
		return nil, nil
	}
	return jwt.ClaimStrings{c.Audience}, nil
}

// Strategy is the jwt strategy. It is safe for concurrent use.
type Strategy struct {
	cfg        Config
	method     jwt.SigningMethod
	signKey    any
	verifyKeys map[string]any
	parser     *jwt.Parser // full validation (Authenticate)
	sigParser  *jwt.Parser // signature only, claims checked by hand (Logout)
	keyFunc    jwt.Keyfunc
	fp         strategies.Fingerprinter
	graceSalt  []byte // HKDF salt of grace records (see grace.go)
	// exchangeScript spends a refresh token (see refresh.go).
	exchangeScript *redis.Script
	log            *slog.Logger
}

// New returns a jwt strategy for cfg.
func New(cfg Config) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Secret = append([]byte(nil), cfg.Secret...)
	s := &Strategy{
		verifyKeys:     make(map[string]any, 1+len(cfg.PreviousKeys)),
		fp:             strategies.NewFingerprinter(cfg.FingerprintKey),
		exchangeScript: redis.NewScript(exchangeScript),
		log:            cfg.Logger.With("strategy", Name),
	}
	if cfg.Client != nil {
		salt, err := graceSalt(cfg.FingerprintKey)
		if err != nil {
			return nil, fmt.Errorf("jwt: derive grace record salt: %w", err)
		}
		s.graceSalt = salt
	}
	switch cfg.Alg {
	case AlgHS256:
		s.method = jwt.SigningMethodHS256
		s.signKey = cfg.Secret
		s.verifyKeys[cfg.KeyID] = cfg.Secret
		for _, k := range cfg.PreviousKeys {
			s.verifyKeys[k.ID] = append([]byte(nil), k.Secret...)
		}
	case AlgEdDSA:
		s.method = jwt.SigningMethodEdDSA
		priv := ed25519.NewKeyFromSeed(cfg.Ed25519Seed)
		s.signKey = priv
		s.verifyKeys[cfg.KeyID] = priv.Public().(ed25519.PublicKey)
		for _, k := range cfg.PreviousKeys {
			s.verifyKeys[k.ID] = append(ed25519.PublicKey(nil), k.PublicKey...)
		}
	}
	cfg.Ed25519Seed = nil // not kept beyond the derived key
	s.cfg = cfg
	s.keyFunc = s.lookupKey
	methods := []string{s.method.Alg()}
	s.parser = jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithStrictDecoding(),
	)
	s.sigParser = jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithoutClaimsValidation(),
		jwt.WithStrictDecoding(),
	)
	return s, nil
}

// Name implements strategies.Strategy.
func (s *Strategy) Name() string { return Name }

// Capabilities implements strategies.Strategy. Without a Redis client the
// strategy has neither refresh tokens nor revocation.
func (s *Strategy) Capabilities() strategies.Capabilities {
	return strategies.Capabilities{
		Transport:          strategies.TransportBearer,
		Authenticates:      true,
		RevokesImmediately: s.cfg.Denylist,
		SharedState:        true,
		NeedsSticky:        false,
		UsesRedis:          s.cfg.Client != nil,
		Refreshable:        s.cfg.Client != nil,
	}
}

// AsStrategy returns s as a strategies.Strategy whose optional interfaces
// match its Capabilities: s itself (a Refresher and a Checker) with a Redis
// client, otherwise a view implementing Strategy only. Builders should
// hand this value out rather than s.
func (s *Strategy) AsStrategy() strategies.Strategy {
	if s.cfg.Client != nil {
		return s
	}
	return stateless{s}
}

// stateless hides Refresh and Check when there is no Redis.
type stateless struct{ s *Strategy }

func (v stateless) Name() string                                 { return v.s.Name() }
func (v stateless) Capabilities() strategies.Capabilities        { return v.s.Capabilities() }
func (v stateless) Logout(ctx context.Context, raw string) error { return v.s.Logout(ctx, raw) }
func (v stateless) Login(ctx context.Context, p identity.Principal) (strategies.Credential, error) {
	return v.s.Login(ctx, p)
}
func (v stateless) Authenticate(ctx context.Context, raw string) (identity.Principal, error) {
	return v.s.Authenticate(ctx, raw)
}

// Login implements strategies.Strategy: a new access token in a new session
// family and, with a Redis client, a refresh token of that family. With
// Redis down it fails with ErrUnavailable.
func (s *Strategy) Login(ctx context.Context, p identity.Principal) (strategies.Credential, error) {
	if p.User == "" {
		return strategies.Credential{}, errors.New("jwt: login: empty user name")
	}
	now := s.cfg.Now()
	m, err := s.mint(p, newID(), now, now)
	if err != nil {
		return strategies.Credential{}, err
	}
	if s.cfg.Client == nil {
		return m.cred, nil
	}
	if err := s.cfg.Client.Set(ctx, m.key, m.record, m.ttl).Err(); err != nil {
		return strategies.Credential{}, fmt.Errorf("jwt: store refresh token: %w: %w", strategies.ErrUnavailable, err)
	}
	return m.cred, nil
}

// sign signs c with the signing key under kid.
func (s *Strategy) sign(c *Claims, kid string) (string, error) {
	t := jwt.NewWithClaims(s.method, c)
	t.Header["kid"] = kid
	t.Header["typ"] = TokenType
	tok, err := t.SignedString(s.signKey)
	if err != nil {
		return "", fmt.Errorf("jwt: sign: %w", err)
	}
	if len(tok) > strategies.MaxCredentialLen {
		return "", fmt.Errorf("jwt: token for %q is %d bytes, above the %d-byte credential limit (too many roles?)",
			c.Subject, len(tok), strategies.MaxCredentialLen)
	}
	return tok, nil
}

// Authenticate implements strategies.Strategy.
func (s *Strategy) Authenticate(ctx context.Context, raw string) (identity.Principal, error) {
	c, err := s.verify(raw)
	if err != nil {
		return identity.Principal{}, err
	}
	if s.cfg.Denylist {
		n, err := s.cfg.Client.Exists(ctx, denyKey(c.SessionID, c.ID), revokedKey(c.SessionID)).Result()
		if err != nil {
			return identity.Principal{}, fmt.Errorf("jwt: denylist lookup: %w: %w", strategies.ErrUnavailable, err)
		}
		if n > 0 {
			return identity.Principal{}, fmt.Errorf("jwt: %w: token revoked", strategies.ErrInvalidCredential)
		}
	}
	return identity.Principal{User: c.Subject, Roles: c.Roles}, nil
}

// verify checks raw's shape, signature and claims.
func (s *Strategy) verify(raw string) (*Claims, error) {
	if err := checkShape(raw); err != nil {
		return nil, err
	}
	c := &Claims{}
	if _, err := s.parser.ParseWithClaims(raw, c, s.keyFunc); err != nil {
		return nil, fmt.Errorf("jwt: %w: %w", strategies.ErrInvalidCredential, err)
	}
	if err := checkIDs(c); err != nil {
		return nil, err
	}
	return c, nil
}

// verifySignature checks raw's shape, signature, issuer and audience but
// not its times: Logout accepts an expired token of ours.
func (s *Strategy) verifySignature(raw string) (*Claims, error) {
	if err := checkShape(raw); err != nil {
		return nil, err
	}
	c := &Claims{}
	if _, err := s.sigParser.ParseWithClaims(raw, c, s.keyFunc); err != nil {
		return nil, fmt.Errorf("jwt: %w: %w", strategies.ErrInvalidCredential, err)
	}
	if c.Issuer != s.cfg.Issuer || c.Audience != s.cfg.Audience {
		return nil, fmt.Errorf("jwt: %w: wrong issuer or audience", strategies.ErrInvalidCredential)
	}
	if err := checkIDs(c); err != nil {
		return nil, err
	}
	return c, nil
}

// checkIDs requires the claims every token of ours carries beyond the
// registered ones the parser checks.
func checkIDs(c *Claims) error {
	if c.Subject == "" || !validID(c.ID) || !validID(c.SessionID) {
		return fmt.Errorf("jwt: %w: missing or malformed sub, jti or sid", strategies.ErrInvalidCredential)
	}
	return nil
}

// lookupKey is the jwt.Keyfunc: the key named by "kid", for the pinned
// algorithm and token type only.
func (s *Strategy) lookupKey(t *jwt.Token) (any, error) {
	if t.Method == nil || t.Method.Alg() != s.method.Alg() {
		return nil, errors.New("unexpected signing method")
	}
	if typ, _ := t.Header["typ"].(string); typ != TokenType {
		return nil, errors.New("unexpected token type")
	}
	kid, _ := t.Header["kid"].(string)
	k, ok := s.verifyKeys[kid]
	if !ok {
		return nil, errors.New("unknown key id")
	}
	return k, nil
}

// checkShape rejects, before any parsing, what cannot be a compact JWS of
// ours: empty, oversized, not three non-empty base64url segments.
func checkShape(raw string) error {
	if raw == "" {
		return strategies.ErrNoCredential
	}
	if len(raw) > strategies.MaxCredentialLen {
		return fmt.Errorf("jwt: %w: %d bytes exceeds %d", strategies.ErrInvalidCredential, len(raw), strategies.MaxCredentialLen)
	}
	dots, segLen := 0, 0
	for i := 0; i < len(raw); i++ {
		switch ch := raw[i]; {
		case ch == '.':
			if segLen == 0 {
				return errShape
			}
			dots++
			segLen = 0
		case ch >= 'A' && ch <= 'Z', ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '-', ch == '_':
			segLen++
		default:
			return errShape
		}
	}
	if dots != 2 || segLen == 0 {
		return errShape
	}
	return nil
}

var errShape = fmt.Errorf("jwt: %w: not three dot-separated base64url segments", strategies.ErrInvalidCredential)

// Logout implements strategies.Strategy: it revokes raw's session family (its
// refresh tokens die) and, with the denylist, denylists raw until it
// expires. Without a Redis client there is nothing to revoke. An invalid or
// foreign token is not an error; a genuine but expired one still revokes its
// family. With Redis down it fails with ErrUnavailable (the gateway answers
// 503) and revokes nothing: the family's refresh tokens stay valid until
// they expire or a retried logout succeeds, and a client should drop its
// tokens either way.
func (s *Strategy) Logout(ctx context.Context, raw string) error {
	if s.cfg.Client == nil {
		return nil
	}
	c, err := s.verifySignature(raw)
	if err != nil {
		return nil
	}
	_, err = s.cfg.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, revokedKey(c.SessionID), "1", s.familyTTL())
		if s.cfg.Denylist && c.ExpiresAt != 0 {
			if ttl := time.Unix(c.ExpiresAt, 0).Sub(s.cfg.Now()) + Leeway; ttl > 0 {
				p.Set(ctx, denyKey(c.SessionID, c.ID), "1", ttl)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("jwt: logout: %w: %w", strategies.ErrUnavailable, err)
	}
	return nil
}

// familyTTL outlives every token of a family revoked now: its refresh
// tokens (RefreshTTL) and its access tokens (AccessTTL + Leeway).
func (s *Strategy) familyTTL() time.Duration {
	return max(s.cfg.RefreshTTL, s.cfg.AccessTTL+Leeway)
}

// Check implements strategies.Checker: it pings Redis (nil without one).
func (s *Strategy) Check(ctx context.Context) error {
	if s.cfg.Client == nil {
		return nil
	}
	if err := s.cfg.Client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("jwt: redis: %w: %w", strategies.ErrUnavailable, err)
	}
	return nil
}

func revokedKey(family string) string { return keyPrefix + "{" + family + "}:revoked" }

func denyKey(family, jti string) string { return keyPrefix + "{" + family + "}:deny:" + jti }

// newID returns 128 random bits, unpadded base64url.
func newID() string {
	var b [idBytes]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validID reports whether id looks like a newID value.
func validID(id string) bool {
	if len(id) != base64.RawURLEncoding.EncodedLen(idBytes) {
		return false
	}
	return !strings.ContainsFunc(id, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	})
}
