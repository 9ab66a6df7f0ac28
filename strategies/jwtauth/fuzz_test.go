package jwtauth

import (
	"context"
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"

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
		for _, p := range []strategies.Principal{alice, {User: "root", Roles: []string{"admin", "user"}}} {
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
