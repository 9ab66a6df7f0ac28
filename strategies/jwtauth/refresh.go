package jwtauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/strategies"
)

// RefreshTokenBytes is the entropy of a refresh token: 256 bits.
const RefreshTokenBytes = 32

// refreshTokenLen is the encoded length of a refresh token (unpadded base64).
const refreshTokenLen = (RefreshTokenBytes*8 + 5) / 6

// Record states: the first byte of a stored refresh token record.
const (
	stateActive = 'A'
	stateUsed   = 'U'
)

// consumeScript atomically reads a refresh token record and, when active,
// marks it used (keeping its TTL) so that a second presentation is
// recognised as reuse rather than as an unknown token. One key: safe on
// Redis Cluster.
const consumeScript = `
local v = redis.call('GET', KEYS[1])
if not v then return false end
if string.sub(v, 1, 1) == 'A' then
  redis.call('SET', KEYS[1], 'U' .. string.sub(v, 2), 'KEEPTTL')
end
return v
`

// refreshRecord is what Redis holds for a refresh token.
type refreshRecord struct {
	User   string   `json:"u"`
	Roles  []string `json:"r"`
	Family string   `json:"f"`
}

func refreshKey(fp string) string { return keyPrefix + "rt:" + fp }

// storeRefresh creates and stores a refresh token of family for p.
func (s *Strategy) storeRefresh(ctx context.Context, p strategies.Principal, family string) (string, error) {
	var b [RefreshTokenBytes]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	rt := base64.RawURLEncoding.EncodeToString(b[:])
	rec, err := json.Marshal(refreshRecord{User: p.User, Roles: p.Roles, Family: family})
	if err != nil {
		return "", fmt.Errorf("jwt: encode refresh record: %w", err)
	}
	val := append([]byte{stateActive}, rec...)
	if err := s.cfg.Client.Set(ctx, refreshKey(s.fp.Sum(rt)), val, s.cfg.RefreshTTL).Err(); err != nil {
		return "", fmt.Errorf("jwt: store refresh token: %w: %w", strategies.ErrUnavailable, err)
	}
	return rt, nil
}

// Refresh implements strategies.Refresher: it consumes refreshToken and
// issues a new access token and refresh token in the same session family.
// A refresh token presented a second time is rejected and revokes its whole
// family (reuse detection): the thief's and the victim's newest refresh
// tokens both die, and with the denylist their access tokens too. Without a
// Redis client it returns ErrNotSupported.
func (s *Strategy) Refresh(ctx context.Context, refreshToken string) (strategies.Credential, strategies.Principal, error) {
	var none strategies.Credential
	if refreshToken == "" {
		return none, strategies.Principal{}, strategies.ErrNoCredential
	}
	if s.cfg.Client == nil {
		return none, strategies.Principal{}, fmt.Errorf("jwt: refresh without redis: %w", strategies.ErrNotSupported)
	}
	if !validRefreshToken(refreshToken) {
		return none, strategies.Principal{}, fmt.Errorf("jwt: %w: malformed refresh token", strategies.ErrInvalidCredential)
	}
	short := s.fp.Short(refreshToken)
	v, err := s.consume.Run(ctx, s.cfg.Client, []string{refreshKey(s.fp.Sum(refreshToken))}).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return none, strategies.Principal{}, fmt.Errorf("jwt: %w: unknown or expired refresh token", strategies.ErrInvalidCredential)
	case err != nil:
		return none, strategies.Principal{}, fmt.Errorf("jwt: refresh: %w: %w", strategies.ErrUnavailable, err)
	}
	var rec refreshRecord
	if len(v) < 2 || json.Unmarshal([]byte(v[1:]), &rec) != nil || rec.User == "" || !validID(rec.Family) {
		s.log.Error("corrupt refresh token record", "fp", short)
		return none, strategies.Principal{}, fmt.Errorf("jwt: %w: corrupt refresh token record", strategies.ErrInvalidCredential)
	}
	p := strategies.Principal{User: rec.User, Roles: rec.Roles}
	if v[0] == stateUsed {
		s.log.Warn("refresh token reuse detected: revoking the session family",
			"fp", short, "user", rec.User, "family", rec.Family)
		if err := s.cfg.Client.Set(ctx, revokedKey(rec.Family), "1", s.familyTTL()).Err(); err != nil {
			return none, strategies.Principal{}, fmt.Errorf("jwt: refresh token reuse detected, revoking family failed: %w: %w",
				strategies.ErrUnavailable, err)
		}
		return none, strategies.Principal{}, fmt.Errorf("jwt: %w: refresh token reused; session revoked", strategies.ErrInvalidCredential)
	}
	n, err := s.cfg.Client.Exists(ctx, revokedKey(rec.Family)).Result()
	if err != nil {
		return none, strategies.Principal{}, fmt.Errorf("jwt: refresh: %w: %w", strategies.ErrUnavailable, err)
	}
	if n > 0 {
		return none, strategies.Principal{}, fmt.Errorf("jwt: %w: session revoked", strategies.ErrInvalidCredential)
	}
	cred, err := s.issue(ctx, p, rec.Family)
	if err != nil {
		return none, strategies.Principal{}, err
	}
	return cred, p, nil
}

// validRefreshToken reports whether rt has a refresh token's shape.
func validRefreshToken(rt string) bool {
	if len(rt) != refreshTokenLen {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rt)
	return err == nil && len(b) == RefreshTokenBytes
}
