package jwtauth

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/authlab/authlab/internal/secret"
	"github.com/authlab/authlab/strategies"
)

// Descriptor describes the jwt strategy for the catalogue, with its --jwt-*,
// --access-ttl and --refresh-ttl flags. Its key comes from --jwt-secret
// (HS256) or --jwt-ed25519-seed (EdDSA); left empty, a random development
// key is generated with internal/secret's loud warning.
func Descriptor() strategies.Descriptor {
	return strategies.Descriptor{
		Name:       Name,
		Summary:    "signed bearer access token carrying the identity itself, plus a single-use refresh token kept in Redis",
		StateLives: "hands the user a signed token that carries the identity itself; no gateway keeps any state about it.",
		AfterCrash: "%s is gone; %s checked the token's signature with the shared key and needed nothing else: the user carries on.",
		Needs:      strategies.Needs{Redis: true},
		Traits:     strategies.Traits{Transport: strategies.TransportBearer, RevokeFlag: "jwt-denylist", SharedState: true, Refreshable: true},
		Register: func(fs *flag.FlagSet) strategies.Builder {
			f := &flags{}
			f.register(fs)
			return f
		},
	}
}

// flags are the jwt strategy's flags.
type flags struct {
	cfg          Config // the non-secret fields, set by the flags
	secret, seed string
}

func (f *flags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cfg.Alg, "jwt-alg", AlgHS256, "signing algorithm, "+AlgHS256+" or "+AlgEdDSA)
	fs.StringVar(&f.secret, "jwt-secret", "", "secret: "+AlgHS256+" key, at least 32 bytes (random dev value if empty)")
	fs.StringVar(&f.seed, "jwt-ed25519-seed", "", "secret: "+AlgEdDSA+" private key seed, base64 of 32 bytes (random dev value if empty)")
	fs.StringVar(&f.cfg.KeyID, "jwt-kid", "k1", "key id put in the kid header")
	fs.StringVar(&f.cfg.Issuer, "jwt-issuer", "authlab", "iss claim issued and required")
	fs.StringVar(&f.cfg.Audience, "jwt-audience", "authlab-api", "aud claim issued and required")
	fs.BoolVar(&f.cfg.Denylist, "jwt-denylist", false, "keep a Redis denylist so logout takes effect at once")
	fs.DurationVar(&f.cfg.AccessTTL, "access-ttl", DefaultAccessTTL, "access token lifetime")
	fs.DurationVar(&f.cfg.RefreshTTL, "refresh-ttl", DefaultRefreshTTL, "refresh token lifetime")
	fs.DurationVar(&f.cfg.RefreshGrace, "jwt-refresh-grace", DefaultRefreshGrace, "a refresh retried this soon gets the pair already issued instead of tripping reuse detection (negative = off)")
	fs.DurationVar(&f.cfg.FamilyLifetime, "jwt-family-lifetime", DefaultFamilyLifetime, "absolute lifetime of a refresh-token family (the login it started from); at least --refresh-ttl")
}

// alg returns the algorithm --jwt-alg names, in any case.
func (f *flags) alg() (string, error) {
	for _, a := range []string{AlgHS256, AlgEdDSA} {
		if strings.EqualFold(f.cfg.Alg, a) {
			return a, nil
		}
	}
	return "", fmt.Errorf("--jwt-alg %q: want %s or %s", f.cfg.Alg, AlgHS256, AlgEdDSA)
}

// Check implements strategies.Builder: the algorithm, and a seed given for
// EdDSA.
func (f *flags) Check() error {
	alg, err := f.alg()
	if err != nil {
		return err
	}
	if alg == AlgEdDSA && f.seed != "" {
		if _, err := decodeSeed(f.seed); err != nil {
			return fmt.Errorf("--jwt-ed25519-seed: %w", err)
		}
	}
	return nil
}

// Build implements strategies.Builder: it resolves the signing key
// (generating a development one, loudly, when its flag is empty) and builds
// the strategy.
func (f *flags) Build(_ context.Context, d strategies.Deps) (strategies.Strategy, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	cfg := f.cfg
	cfg.Alg, _ = f.alg()
	cfg.Client, cfg.FingerprintKey, cfg.Now, cfg.Logger = d.Redis, d.FingerprintKey, d.Now, d.Log()
	if cfg.Alg == AlgHS256 {
		s, _, err := secret.Resolve(d.Log(), "jwt-secret", f.secret, MinSecretLen)
		if err != nil {
			return nil, err
		}
		cfg.Secret = []byte(s)
	} else {
		seed := f.seed
		if seed == "" {
			seed, _, _ = secret.Resolve(d.Log(), "jwt-ed25519-seed", "", 0)
		}
		b, err := decodeSeed(seed)
		if err != nil {
			return nil, fmt.Errorf("--jwt-ed25519-seed: %w", err)
		}
		cfg.Ed25519Seed = b
	}
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	// The view exposes Refresher and Checker only with a Redis client.
	return s.AsStrategy(), nil
}

// decodeSeed decodes an Ed25519 seed given in any base64 flavour.
func decodeSeed(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, fmt.Errorf("decoded to %d bytes, want 32", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}
