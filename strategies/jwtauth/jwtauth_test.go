package jwtauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/internal/redisx/redistest"
	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/strategytest"
)

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	for _, alg := range []string{AlgHS256, AlgEdDSA} {
		t.Run(alg+"/no-redis", func(t *testing.T) {
			strategytest.Run(t, func(t *testing.T) strategies.Strategy {
				return mustNew(t, baseConfig(alg, nil)).AsStrategy()
			})
		})
		for _, deny := range []bool{false, true} {
			name := alg + "/redis"
			if deny {
				name += "-denylist"
			}
			t.Run(name, func(t *testing.T) {
				strategytest.Run(t, func(t *testing.T) strategies.Strategy {
					// A new gateway instance: same keys, same Redis, its own client.
					// The default grace window: the suite spends a token's
					// successor before presenting it again.
					cfg := withRedis(baseConfig(alg, nil), redistest.Client(t, srv), deny)
					return mustNew(t, cfg).AsStrategy()
				})
			})
		}
	}
}

func TestCapabilities(t *testing.T) {
	srv := redistest.Start(t)
	client := redistest.Client(t, srv)
	tests := []struct {
		name                        string
		cfg                         Config
		revokes, redis, refreshable bool
	}{
		{"no redis", baseConfig(AlgHS256, nil), false, false, false},
		{"redis", withRedis(baseConfig(AlgHS256, nil), client, false), false, true, true},
		{"redis+denylist", withRedis(baseConfig(AlgEdDSA, nil), client, true), true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, tt.cfg)
			c := s.Capabilities()
			want := strategies.Capabilities{
				Transport: strategies.TransportBearer, Authenticates: true, SharedState: true,
				RevokesImmediately: tt.revokes, UsesRedis: tt.redis, Refreshable: tt.refreshable,
			}
			if c != want {
				t.Fatalf("Capabilities = %+v, want %+v", c, want)
			}
			v := s.AsStrategy()
			_, isRefresher := v.(strategies.Refresher)
			_, isChecker := v.(strategies.Checker)
			if isRefresher != tt.refreshable || isChecker != tt.redis {
				t.Fatalf("AsStrategy: Refresher %v, Checker %v; want %v, %v", isRefresher, isChecker, tt.refreshable, tt.redis)
			}
			if err := s.Check(context.Background()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if !tt.refreshable {
				if _, _, err := s.Refresh(context.Background(), "x"); !errors.Is(err, strategies.ErrNotSupported) {
					t.Fatalf("Refresh without redis: %v, want ErrNotSupported", err)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	srv := redistest.Start(t)
	client := redistest.Client(t, srv)
	mod := func(alg string, f func(*Config)) Config {
		c := baseConfig(alg, nil)
		f(&c)
		return c
	}
	pub := baseConfig(AlgEdDSA, nil).VerificationKey().PublicKey
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"valid HS256", baseConfig(AlgHS256, nil), ""},
		{"valid EdDSA", baseConfig(AlgEdDSA, nil), ""},
		{"valid with redis and denylist", withRedis(baseConfig(AlgHS256, nil), client, true), ""},
		{"valid rotation", mod(AlgEdDSA, func(c *Config) { c.PreviousKeys = []Key{{ID: "old", PublicKey: pub}} }), ""},
		{"unknown alg", mod(AlgHS256, func(c *Config) { c.Alg = "RS256" }), "unsupported alg"},
		{"alg none", mod(AlgHS256, func(c *Config) { c.Alg = "none" }), "unsupported alg"},
		{"short secret", mod(AlgHS256, func(c *Config) { c.Secret = []byte("short") }), "secret is 5 bytes"},
		{"HS256 with seed", mod(AlgHS256, func(c *Config) { c.Ed25519Seed = testSeed }), "Ed25519Seed set"},
		{"bad seed", mod(AlgEdDSA, func(c *Config) { c.Ed25519Seed = testSeed[:31] }), "seed is 31 bytes"},
		{"EdDSA with secret", mod(AlgEdDSA, func(c *Config) { c.Secret = testSecret }), "Secret set"},
		{"no kid", mod(AlgHS256, func(c *Config) { c.KeyID = "" }), "KeyID: empty"},
		{"kid with space", mod(AlgHS256, func(c *Config) { c.KeyID = "a b" }), "non-printable"},
		{"long kid", mod(AlgHS256, func(c *Config) { c.KeyID = strings.Repeat("k", 65) }), "longer than"},
		{"duplicate kid", mod(AlgHS256, func(c *Config) { c.PreviousKeys = []Key{{ID: c.KeyID, Secret: testSecret}} }), "used twice"},
		{"previous key wrong type", mod(AlgHS256, func(c *Config) { c.PreviousKeys = []Key{{ID: "old", PublicKey: pub}} }), "HS256 needs"},
		{"previous EdDSA key short", mod(AlgEdDSA, func(c *Config) { c.PreviousKeys = []Key{{ID: "old", PublicKey: pub[:5]}} }), "EdDSA needs"},
		{"no issuer", mod(AlgHS256, func(c *Config) { c.Issuer = "" }), "Issuer is empty"},
		{"no audience", mod(AlgHS256, func(c *Config) { c.Audience = "" }), "Audience is empty"},
		{"negative access ttl", mod(AlgHS256, func(c *Config) { c.AccessTTL = -time.Second }), "AccessTTL"},
		{"sub-second access ttl", mod(AlgHS256, func(c *Config) { c.AccessTTL = time.Millisecond }), "resolution"},
		{"negative refresh ttl", mod(AlgHS256, func(c *Config) { c.RefreshTTL = -time.Second }), "RefreshTTL"},
		{"grace window disabled", mod(AlgHS256, func(c *Config) { c.RefreshGrace = -1 }), ""},
		{"longest grace window", mod(AlgHS256, func(c *Config) { c.RefreshGrace = MaxRefreshGrace }), ""},
		{"grace window too long", mod(AlgHS256, func(c *Config) { c.RefreshGrace = MaxRefreshGrace + 1 }), "RefreshGrace"},
		{"family lifetime = refresh ttl", mod(AlgHS256, func(c *Config) { c.RefreshTTL, c.FamilyLifetime = time.Hour, time.Hour }), ""},
		{"negative family lifetime", mod(AlgHS256, func(c *Config) { c.FamilyLifetime = -time.Hour }), "FamilyLifetime -1h0m0s is negative"},
		{"family lifetime < refresh ttl", mod(AlgHS256, func(c *Config) { c.RefreshTTL, c.FamilyLifetime = 2*time.Hour, time.Hour }), "shorter than RefreshTTL"},
		{"family lifetime < default refresh ttl", mod(AlgHS256, func(c *Config) { c.FamilyLifetime = time.Hour }), "shorter than RefreshTTL 24h"},
		{"default family lifetime < refresh ttl", mod(AlgHS256, func(c *Config) { c.RefreshTTL = 8 * 24 * time.Hour }), "FamilyLifetime 168h0m0s is shorter"},
		{"denylist without redis", mod(AlgHS256, func(c *Config) { c.Denylist = true }), "Denylist requires"},
		{"redis without fingerprint key", mod(AlgHS256, func(c *Config) { c.Client = client }), "FingerprintKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			_, nerr := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || nerr != nil {
					t.Fatalf("Validate = %v, New = %v; want nil", err, nerr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
			if nerr == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	clk := newClock(testEpoch)
	s := mustNew(t, baseConfig(AlgHS256, clk.Now))
	c := mustLogin(t, s, alice)
	if got := c.ExpiresAt.Sub(testEpoch); got != DefaultAccessTTL {
		t.Fatalf("access token lives %v, want %v", got, DefaultAccessTTL)
	}
	if c.RefreshToken != "" {
		t.Fatal("refresh token issued without redis")
	}
	if s.cfg.RefreshGrace != DefaultRefreshGrace || s.cfg.FamilyLifetime != DefaultFamilyLifetime {
		t.Fatalf("RefreshGrace %v, FamilyLifetime %v; want the defaults", s.cfg.RefreshGrace, s.cfg.FamilyLifetime)
	}
	if _, err := s.Login(context.Background(), identity.Principal{}); err == nil {
		t.Fatal("Login with an empty user succeeded")
	}
	many := identity.Principal{User: "bob", Roles: make([]string, 400)}
	for i := range many.Roles {
		many.Roles[i] = "role-with-a-long-name"
	}
	if _, err := s.Login(context.Background(), many); err == nil {
		t.Fatal("Login issued a token above MaxCredentialLen")
	}
}

// TestTokenContents checks the header and claims of an issued token.
func TestTokenContents(t *testing.T) {
	clk := newClock(testEpoch)
	for _, alg := range []string{AlgHS256, AlgEdDSA} {
		t.Run(alg, func(t *testing.T) {
			s := mustNew(t, baseConfig(alg, clk.Now))
			tok := mustLogin(t, s, alice).Token
			parts := strings.Split(tok, ".")
			var hdr map[string]any
			var cl map[string]any
			decodeJSON(t, parts[0], &hdr)
			decodeJSON(t, parts[1], &cl)
			if hdr["alg"] != alg || hdr["kid"] != s.cfg.KeyID || hdr["typ"] != TokenType {
				t.Fatalf("header = %v", hdr)
			}
			for _, k := range []string{"iss", "aud", "sub", "roles", "iat", "nbf", "exp", "jti", "sid"} {
				if _, ok := cl[k]; !ok {
					t.Errorf("claim %q missing from %v", k, cl)
				}
			}
			if cl["exp"].(float64)-cl["iat"].(float64) != DefaultAccessTTL.Seconds() {
				t.Errorf("exp - iat = %v", cl["exp"].(float64)-cl["iat"].(float64))
			}
		})
	}
}

func decodeJSON(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("decode segment: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("unmarshal segment: %v", err)
	}
}

// signWith signs claims with an arbitrary method and key under kid and typ.
func signWith(t *testing.T, m jwt.SigningMethod, claims jwt.Claims, kid string, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	tok.Header["kid"] = kid
	tok.Header["typ"] = TokenType
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

// rawToken assembles a token from a header, claims and signature.
func rawToken(t *testing.T, hdr map[string]any, claims any, sig string) string {
	t.Helper()
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "." + sig
}

func TestHostileTokens(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, otherEd, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{AlgHS256, AlgEdDSA} {
		t.Run(alg, func(t *testing.T) {
			clk := newClock(testEpoch)
			s := mustNew(t, baseConfig(alg, clk.Now))
			kid := s.cfg.KeyID
			now := clk.Now()
			good := claimsAt(s, now)
			mod := func(f func(*Claims)) string {
				c := claimsAt(s, now)
				f(&c)
				tok, err := s.sign(&c, kid)
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
			valid := mod(func(*Claims) {})
			// The baseline signed the same way is accepted: the rejections
			// below are due to the change each case makes, nothing else.
			if p, err := s.Authenticate(context.Background(), valid); err != nil || p.User != "alice" {
				t.Fatalf("baseline token rejected: %+v, %v", p, err)
			}
			parts := strings.Split(valid, ".")
			handValid := handSigned(t, s, kid, map[string]any{"iss": testIssuer, "sub": "alice", "aud": testAudience,
				"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": newID(), "sid": newID(), "roles": []string{"user"}})
			if _, err := s.Authenticate(context.Background(), handValid); err != nil {
				t.Fatalf("hand-built baseline token rejected: %v", err)
			}

			var tampered map[string]any
			decodeJSON(t, parts[1], &tampered)
			tampered["roles"] = []string{"admin"}
			var confusion string
			switch alg {
			case AlgEdDSA:
				// HS256 keyed with the verifier's public key bytes.
				pub := s.verifyKeys[kid].(ed25519.PublicKey)
				confusion = signWith(t, jwt.SigningMethodHS256, &good, kid, []byte(pub))
			case AlgHS256:
				// EdDSA with any private key under the HS256 kid.
				confusion = signWith(t, jwt.SigningMethodEdDSA, &good, kid, otherEd)
			}
			noneTok, err := jwt.NewWithClaims(jwt.SigningMethodNone, &good).SignedString(jwt.UnsafeAllowNoneSignatureType)
			if err != nil {
				t.Fatal(err)
			}
			var noExp = struct {
				Roles []string `json:"roles"`
				SID   string   `json:"sid"`
				Iss   string   `json:"iss"`
				Aud   []string `json:"aud"`
				Sub   string   `json:"sub"`
				Iat   int64    `json:"iat"`
				Jti   string   `json:"jti"`
			}{[]string{"user"}, newID(), testIssuer, []string{testAudience}, "alice", now.Unix(), newID()}

			hostile := []struct{ name, raw string }{
				{"alg none, empty signature", noneTok},
				{"alg none, fake signature", rawToken(t, map[string]any{"alg": "none", "kid": kid, "typ": TokenType}, good, parts[2])},
				{"alg confusion", confusion},
				{"RS256", signWith(t, jwt.SigningMethodRS256, &good, kid, rsaKey)},
				{"HS512 with the secret", signWith(t, jwt.SigningMethodHS512, &good, kid, testSecret)},
				{"HS384", signWith(t, jwt.SigningMethodHS384, &good, kid, testSecret)},
				{"expired", mod(func(c *Claims) {
					c.IssuedAt = now.Add(-time.Hour).Unix()
					c.NotBefore = c.IssuedAt
					c.ExpiresAt = now.Add(-Leeway - time.Second).Unix()
				})},
				{"nbf in future", mod(func(c *Claims) { c.NotBefore = now.Add(time.Minute).Unix() })},
				{"iat in future", mod(func(c *Claims) { c.IssuedAt = now.Add(time.Minute).Unix() })},
				{"wrong iss", mod(func(c *Claims) { c.Issuer = "evil" })},
				{"no iss", mod(func(c *Claims) { c.Issuer = "" })},
				{"wrong aud", mod(func(c *Claims) { c.Audience = "other-api" })},
				{"no aud", mod(func(c *Claims) { c.Audience = "" })},
				{"missing exp", mod(func(c *Claims) { c.ExpiresAt = 0 })},
				{"missing exp (hand-built)", func() string {
					t := rawToken(t, map[string]any{"alg": alg, "kid": kid, "typ": TokenType}, noExp, "")
					return reSign(s, t)
				}()},
				{"aud as an array", handSigned(t, s, kid, map[string]any{"iss": testIssuer, "sub": "alice", "aud": []string{testAudience},
					"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": newID(), "sid": newID(), "roles": []string{"user"}})},
				{"exp as a string", handSigned(t, s, kid, map[string]any{"iss": testIssuer, "sub": "alice", "aud": testAudience,
					"exp": "9999999999", "iat": now.Unix(), "jti": newID(), "sid": newID(), "roles": []string{"user"}})},
				{"exp as a float", handSigned(t, s, kid, map[string]any{"iss": testIssuer, "sub": "alice", "aud": testAudience,
					"exp": 9999999999.5, "iat": now.Unix(), "jti": newID(), "sid": newID(), "roles": []string{"user"}})},
				{"missing sub", mod(func(c *Claims) { c.Subject = "" })},
				{"missing jti", mod(func(c *Claims) { c.ID = "" })},
				{"missing sid", mod(func(c *Claims) { c.SessionID = "" })},
				{"tampered roles", rawToken(t, map[string]any{"alg": alg, "kid": kid, "typ": TokenType}, tampered, parts[2])},
				{"tampered header kid", rawToken(t, map[string]any{"alg": alg, "kid": kid + "x", "typ": TokenType}, good, parts[2])},
				{"truncated", valid[:len(valid)-1]},
				{"truncated signature", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])/2]},
				{"signature dropped", parts[0] + "." + parts[1] + "."},
				{"non-canonical base64 signature", parts[0] + "." + parts[1] + "." + nonCanonical(t, parts[2])},
				{"padded", valid + "=="},
				{"four segments", valid + ".AAAA"},
				{"10 KB garbage", strings.Repeat("A", 10*1024)},
				{"10 KB garbage with dots", strings.Repeat("A", 5*1024) + "." + strings.Repeat("B", 1024) + ".C"},
				{"unknown kid, right key", func() string { c := claimsAt(s, now); tok, _ := s.sign(&c, "unknown"); return tok }()},
				{"no kid", rawToken(t, map[string]any{"alg": alg, "typ": TokenType}, good, parts[2])},
				{"wrong typ", func() string {
					tok := jwt.NewWithClaims(s.method, &good)
					tok.Header["kid"] = kid
					r, _ := tok.SignedString(s.signKey) // typ "JWT"
					return r
				}()},
				{"other key, same kid", func() string {
					if alg == AlgHS256 {
						return signWith(t, jwt.SigningMethodHS256, &good, kid, bytes.Repeat([]byte("x"), 32))
					}
					return signWith(t, jwt.SigningMethodEdDSA, &good, kid, otherEd)
				}()},
			}
			for _, h := range hostile {
				t.Run(h.name, func(t *testing.T) {
					p, err := s.Authenticate(context.Background(), h.raw)
					if !errors.Is(err, strategies.ErrInvalidCredential) {
						t.Fatalf("Authenticate = %+v, %v; want ErrInvalidCredential", p, err)
					}
					if p.User != "" {
						t.Fatalf("principal %+v returned with an error", p)
					}
				})
			}
			// Still rejected later: expiry is judged by the injected clock.
			clk.Advance(DefaultAccessTTL + Leeway + time.Second)
			if _, err := s.Authenticate(context.Background(), valid); !errors.Is(err, strategies.ErrInvalidCredential) || !errors.Is(err, jwt.ErrTokenExpired) {
				t.Fatalf("expired by the clock: %v, want ErrInvalidCredential (expired)", err)
			}
		})
	}
}

// nonCanonical flips a padding bit of seg's last character: the segment
// still decodes to the same bytes unless decoding is strict.
func nonCanonical(t *testing.T, seg string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(seg)%4 == 0 {
		t.Fatalf("segment of length %d has no padding bits", len(seg))
	}
	i := strings.IndexByte(alphabet, seg[len(seg)-1])
	out := seg[:len(seg)-1] + string(alphabet[i^1])
	a, _ := base64.RawURLEncoding.DecodeString(seg)
	b, err := base64.RawURLEncoding.DecodeString(out)
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("nonCanonical changed the decoded bytes (%v)", err)
	}
	return out
}

// handSigned signs arbitrary claims with s's key (a valid signature over
// claims s would never issue).
func handSigned(t *testing.T, s *Strategy, kid string, claims map[string]any) string {
	t.Helper()
	return reSign(s, rawToken(t, map[string]any{"alg": s.method.Alg(), "kid": kid, "typ": TokenType}, claims, ""))
}

// reSign replaces the signature of raw's header and payload with s's.
func reSign(s *Strategy, raw string) string {
	i := strings.LastIndexByte(raw, '.')
	sig, err := s.method.Sign(raw[:i], s.signKey)
	if err != nil {
		panic(err)
	}
	return raw[:i] + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestEmptyAndOversized(t *testing.T) {
	s := mustNew(t, baseConfig(AlgHS256, nil))
	if _, err := s.Authenticate(context.Background(), ""); !errors.Is(err, strategies.ErrNoCredential) {
		t.Fatalf("empty: %v, want ErrNoCredential", err)
	}
	big := strings.Repeat("A", strategies.MaxCredentialLen/2) + "." + strings.Repeat("A", strategies.MaxCredentialLen/2) + ".A"
	if _, err := s.Authenticate(context.Background(), big); !errors.Is(err, strategies.ErrInvalidCredential) || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("oversized: %v, want ErrInvalidCredential (exceeds)", err)
	}
}

func TestKeyRotation(t *testing.T) {
	for _, alg := range []string{AlgHS256, AlgEdDSA} {
		t.Run(alg, func(t *testing.T) {
			oldCfg := baseConfig(alg, nil)
			oldS := mustNew(t, oldCfg)
			oldTok := mustLogin(t, oldS, alice).Token

			newCfg := baseConfig(alg, nil)
			newCfg.KeyID = "k2"
			switch alg {
			case AlgHS256:
				newCfg.Secret = bytes.Repeat([]byte("n"), 32)
			case AlgEdDSA:
				newCfg.Ed25519Seed = bytes.Repeat([]byte{9}, 32)
			}
			newCfg.PreviousKeys = []Key{oldCfg.VerificationKey()}
			newS := mustNew(t, newCfg)
			newTok := mustLogin(t, newS, alice).Token

			if !strings.Contains(headerKid(t, newTok), "k2") {
				t.Fatalf("new tokens are not signed with the new key: kid %q", headerKid(t, newTok))
			}
			if _, err := newS.Authenticate(context.Background(), oldTok); err != nil {
				t.Fatalf("rotated instance rejects a token of the previous key: %v", err)
			}
			if _, err := newS.Authenticate(context.Background(), newTok); err != nil {
				t.Fatalf("rotated instance rejects its own token: %v", err)
			}
			if _, err := oldS.Authenticate(context.Background(), newTok); !errors.Is(err, strategies.ErrInvalidCredential) {
				t.Fatalf("old instance accepts a token of an unknown kid: %v", err)
			}
			// Once the previous key is retired, its tokens fail.
			newCfg.PreviousKeys = nil
			if _, err := mustNew(t, newCfg).Authenticate(context.Background(), oldTok); !errors.Is(err, strategies.ErrInvalidCredential) {
				t.Fatalf("retired key still verifies: %v", err)
			}
			// A token signed with the new key but claiming the old kid fails.
			c := claimsAt(newS, time.Now())
			forged, err := newS.sign(&c, oldCfg.KeyID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := newS.Authenticate(context.Background(), forged); !errors.Is(err, strategies.ErrInvalidCredential) {
				t.Fatalf("kid/key mismatch accepted: %v", err)
			}
		})
	}
}

func headerKid(t *testing.T, tok string) string {
	var hdr map[string]any
	decodeJSON(t, strings.Split(tok, ".")[0], &hdr)
	kid, _ := hdr["kid"].(string)
	return kid
}
