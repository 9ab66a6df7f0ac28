package jwtauth

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/strategytest"
)

// FuzzAuthenticate checks that Authenticate never panics, fails only with
// the documented sentinels, and never accepts a token it did not issue: an
// accepted input must be byte for byte what the strategy signs for the
// claims it carries (keys and clock are fixed, so worker processes agree).
func FuzzAuthenticate(f *testing.F) {
	clk := newClock(testEpoch)
	var ss []*Strategy
	for _, alg := range []string{AlgHS256, AlgEdDSA} {
		s := mustNew(f, baseConfig(alg, clk.Now))
		ss = append(ss, s)
		for _, p := range []identity.Principal{alice, {User: "root", Roles: []string{"admin", "user"}}} {
			tok := mustLogin(f, s, p).Token
			f.Add(tok)
			for _, h := range strategytest.Hostile(tok) {
				f.Add(h)
			}
		}
		c := claimsAt(s, testEpoch)
		f.Add(signWithKey(f, jwt.SigningMethodHS256, &c, s.cfg.KeyID, testSecret))
		f.Add(signWithKey(f, jwt.SigningMethodHS512, &c, s.cfg.KeyID, testSecret))
	}
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		for _, s := range ss {
			p, err := s.Authenticate(ctx, raw)
			if err != nil {
				if p.User != "" || p.Roles != nil {
					t.Fatalf("%s: principal %+v returned with error %v", s.cfg.Alg, p, err)
				}
				if raw == "" && !errors.Is(err, strategies.ErrNoCredential) ||
					raw != "" && !errors.Is(err, strategies.ErrInvalidCredential) {
					t.Fatalf("%s: Authenticate(%q) = %v, want a sentinel", s.cfg.Alg, raw, err)
				}
				continue
			}
			c, err := s.verify(raw)
			if err != nil {
				t.Fatalf("%s: accepted %q but verify fails: %v", s.cfg.Alg, raw, err)
			}
			re, err := s.sign(c, s.cfg.KeyID)
			if err != nil || re != raw {
				t.Fatalf("%s: accepted a token it did not issue:\n got  %q\n ours %q (%v)", s.cfg.Alg, raw, re, err)
			}
			if p.User != c.Subject {
				t.Fatalf("%s: principal %q, subject %q", s.cfg.Alg, p.User, c.Subject)
			}
		}
	})
}

func signWithKey(tb testing.TB, m jwt.SigningMethod, c jwt.Claims, kid string, key any) string {
	tb.Helper()
	tok := jwt.NewWithClaims(m, c)
	tok.Header["kid"] = kid
	tok.Header["typ"] = TokenType
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	return s
}

// FuzzRefreshToken checks that the refresh token parser never panics and
// accepts exactly the canonical encoding of a family id and 32 bytes, whose
// family it returns.
func FuzzRefreshToken(f *testing.F) {
	fam := newID()
	rt, err := newRefreshToken(fam)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rt)
	for _, h := range strategytest.Hostile(rt) {
		f.Add(h)
	}
	f.Add(rt[:63] + "+")
	f.Add(strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, raw string) {
		family, ok := parseRefreshToken(raw)
		b, err := base64.RawURLEncoding.Strict().DecodeString(raw)
		canonical := err == nil && len(b) == RefreshTokenBytes && base64.RawURLEncoding.EncodeToString(b) == raw
		if ok != canonical {
			t.Fatalf("parseRefreshToken(%q) ok = %v, canonical = %v", raw, ok, canonical)
		}
		if !ok {
			return
		}
		if !validID(family) || family != base64.RawURLEncoding.EncodeToString(b[:idBytes]) {
			t.Fatalf("parseRefreshToken(%q) family = %q", raw, family)
		}
		if again, err := newRefreshToken(family); err != nil || len(again) != len(raw) {
			t.Fatalf("newRefreshToken(%q) = %q, %v", family, again, err)
		}
	})
}
