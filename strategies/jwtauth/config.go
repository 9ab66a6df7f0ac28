package jwtauth

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Supported signing algorithms (the JWS "alg" values).
const (
	AlgHS256 = "HS256"
	AlgEdDSA = "EdDSA"
)

// Defaults and limits.
const (
	// DefaultAccessTTL is the access token lifetime unless configured.
	DefaultAccessTTL = 5 * time.Minute
	// DefaultRefreshTTL is the refresh token lifetime unless configured.
	DefaultRefreshTTL = 24 * time.Hour
	// DefaultRefreshGrace is the refresh retry grace window unless configured.
	DefaultRefreshGrace = 10 * time.Second
	// MaxRefreshGrace bounds the grace window: within it a spent refresh
	// token still yields its pair, so it must stay short.
	MaxRefreshGrace = time.Minute
	// DefaultFamilyLifetime is the absolute lifetime of a session family
	// (a login and every refresh descended from it) unless configured.
	DefaultFamilyLifetime = 7 * 24 * time.Hour
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway = 5 * time.Second
	// MinSecretLen is the minimum HS256 secret (and fingerprint key) length.
	MinSecretLen = 32
	// MaxKeyIDLen bounds a key id.
	MaxKeyIDLen = 64
)

// Key is a verification-only key, kept during a key rotation so that tokens
// signed before the rotation stay valid until they expire. Set the field that
// matches Config.Alg.
type Key struct {
	// ID is the key id ("kid" header) tokens signed with this key carry.
	ID string
	// Secret is the HMAC secret (HS256), at least MinSecretLen bytes.
	Secret []byte
	// PublicKey is the Ed25519 public key (EdDSA).
	PublicKey ed25519.PublicKey
}

// Config configures the jwt strategy.
type Config struct {
	// Alg is AlgHS256 or AlgEdDSA. Only this algorithm is ever accepted.
	Alg string
	// Secret is the HS256 signing secret (at least MinSecretLen bytes).
	Secret []byte
	// Ed25519Seed is the EdDSA private key seed (ed25519.SeedSize bytes).
	Ed25519Seed []byte
	// KeyID is the "kid" of the signing key.
	KeyID string
	// PreviousKeys are verification-only keys of earlier rotations (same
	// Alg). The signing key signs, the signing key and these verify.
	PreviousKeys []Key
	// Issuer ("iss") and Audience ("aud") are set on every token and
	// required on every token accepted.
	Issuer, Audience string
	// AccessTTL is the access token lifetime (default DefaultAccessTTL).
	AccessTTL time.Duration
	// RefreshTTL is the refresh token lifetime (default DefaultRefreshTTL).
	RefreshTTL time.Duration
	// RefreshGrace is how long after a refresh token was exchanged a retry
	// with that same token returns the pair already issued (the same access
	// and refresh token) instead of counting as reuse: the client whose
	// first refresh response was lost. The retry gets the pair only while
	// the new refresh token is still unspent. Zero means
	// DefaultRefreshGrace, a negative value disables the window (every
	// second presentation is reuse); at most MaxRefreshGrace.
	RefreshGrace time.Duration
	// FamilyLifetime is the absolute lifetime of a session family: a login
	// and every token refreshed from it. Refreshing past it fails however
	// fresh each token is, and no token of the family (access or refresh)
	// expires later. Zero means DefaultFamilyLifetime; it must be at least
	// RefreshTTL.
	FamilyLifetime time.Duration
	// Client is the Redis holding refresh tokens, revoked families and the
	// denylist. Nil means no refresh tokens and no revocation at all.
	Client redis.UniversalClient
	// Denylist makes Logout revoke the access token at once on every
	// instance, at the price of one Redis round trip per Authenticate.
	// Requires Client.
	Denylist bool
	// FingerprintKey keys the HMAC under which refresh tokens are stored
	// (at least MinSecretLen bytes). Required with Client.
	FingerprintKey []byte
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives security events (refresh token reuse); default: discard.
	Logger *slog.Logger
}

// Validate reports whether c is usable. Zero durations, Now and Logger are
// defaulted by New.
func (c Config) Validate() error {
	var errs []error
	switch c.Alg {
	case AlgHS256:
		if len(c.Secret) < MinSecretLen {
			errs = append(errs, fmt.Errorf("jwt: HS256 secret is %d bytes, need at least %d", len(c.Secret), MinSecretLen))
		}
		if len(c.Ed25519Seed) != 0 {
			errs = append(errs, errors.New("jwt: Ed25519Seed set with Alg HS256"))
		}
	case AlgEdDSA:
		if len(c.Ed25519Seed) != ed25519.SeedSize {
			errs = append(errs, fmt.Errorf("jwt: EdDSA seed is %d bytes, need exactly %d", len(c.Ed25519Seed), ed25519.SeedSize))
		}
		if len(c.Secret) != 0 {
			errs = append(errs, errors.New("jwt: Secret set with Alg EdDSA"))
		}
	default:
		errs = append(errs, fmt.Errorf("jwt: unsupported alg %q (want %s or %s)", c.Alg, AlgHS256, AlgEdDSA))
	}
	if err := validKeyID(c.KeyID); err != nil {
		errs = append(errs, fmt.Errorf("jwt: KeyID: %w", err))
	}
	seen := map[string]bool{c.KeyID: true}
	for i, k := range c.PreviousKeys {
		if err := validKeyID(k.ID); err != nil {
			errs = append(errs, fmt.Errorf("jwt: PreviousKeys[%d].ID: %w", i, err))
		} else if seen[k.ID] {
			errs = append(errs, fmt.Errorf("jwt: PreviousKeys[%d].ID %q is used twice", i, k.ID))
		}
		seen[k.ID] = true
		switch c.Alg {
		case AlgHS256:
			if len(k.Secret) < MinSecretLen || len(k.PublicKey) != 0 {
				errs = append(errs, fmt.Errorf("jwt: PreviousKeys[%d] (%q): HS256 needs a Secret of at least %d bytes and no PublicKey", i, k.ID, MinSecretLen))
			}
		case AlgEdDSA:
			if len(k.PublicKey) != ed25519.PublicKeySize || len(k.Secret) != 0 {
				errs = append(errs, fmt.Errorf("jwt: PreviousKeys[%d] (%q): EdDSA needs a %d-byte PublicKey and no Secret", i, k.ID, ed25519.PublicKeySize))
			}
		}
	}
	if c.Issuer == "" {
		errs = append(errs, errors.New("jwt: Issuer is empty"))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("jwt: Audience is empty"))
	}
	if c.AccessTTL < 0 {
		errs = append(errs, fmt.Errorf("jwt: AccessTTL %v is negative", c.AccessTTL))
	}
	if c.RefreshTTL < 0 {
		errs = append(errs, fmt.Errorf("jwt: RefreshTTL %v is negative", c.RefreshTTL))
	}
	if c.RefreshGrace > MaxRefreshGrace {
		errs = append(errs, fmt.Errorf("jwt: RefreshGrace %v exceeds %v", c.RefreshGrace, MaxRefreshGrace))
	}
	if c.FamilyLifetime < 0 {
		errs = append(errs, fmt.Errorf("jwt: FamilyLifetime %v is negative", c.FamilyLifetime))
	} else if d := c.withDefaults(); c.RefreshTTL >= 0 && d.FamilyLifetime < d.RefreshTTL {
		errs = append(errs, fmt.Errorf("jwt: FamilyLifetime %v is shorter than RefreshTTL %v", d.FamilyLifetime, d.RefreshTTL))
	}
	if c.AccessTTL > 0 && c.AccessTTL < time.Second {
		errs = append(errs, fmt.Errorf("jwt: AccessTTL %v is below the 1 s resolution of exp", c.AccessTTL))
	}
	if c.Denylist && c.Client == nil {
		errs = append(errs, errors.New("jwt: Denylist requires a Redis Client"))
	}
	if c.Client != nil && len(c.FingerprintKey) < MinSecretLen {
		errs = append(errs, fmt.Errorf("jwt: FingerprintKey is %d bytes, need at least %d with a Redis Client", len(c.FingerprintKey), MinSecretLen))
	}
	return errors.Join(errs...)
}

// VerificationKey returns the verification-only form of c's signing key, to
// put in the next configuration's PreviousKeys when rotating keys. It returns
// a zero Key when c's key material is invalid.
func (c Config) VerificationKey() Key {
	switch c.Alg {
	case AlgHS256:
		return Key{ID: c.KeyID, Secret: append([]byte(nil), c.Secret...)}
	case AlgEdDSA:
		if len(c.Ed25519Seed) != ed25519.SeedSize {
			return Key{}
		}
		pub := ed25519.NewKeyFromSeed(c.Ed25519Seed).Public().(ed25519.PublicKey)
		return Key{ID: c.KeyID, PublicKey: pub}
	}
	return Key{}
}

func validKeyID(id string) error {
	if id == "" {
		return errors.New("empty")
	}
	if len(id) > MaxKeyIDLen {
		return fmt.Errorf("longer than %d bytes", MaxKeyIDLen)
	}
	for _, r := range id {
		if r <= ' ' || r > '~' {
			return fmt.Errorf("%q holds a non-printable or non-ASCII character", id)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.AccessTTL == 0 {
		c.AccessTTL = DefaultAccessTTL
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = DefaultRefreshTTL
	}
	if c.RefreshGrace == 0 {
		c.RefreshGrace = DefaultRefreshGrace
	}
	if c.FamilyLifetime == 0 {
		c.FamilyLifetime = DefaultFamilyLifetime
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
