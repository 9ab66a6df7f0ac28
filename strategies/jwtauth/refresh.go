package jwtauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
)

// RefreshTokenBytes is the decoded size of a refresh token: the 16-byte
// session family id followed by 32 random bytes (256 bits of entropy). The
// family id is not secret (every access token of the family carries it as
// "sid"); it names the Redis Cluster slot of the family's keys, so that one
// script can exchange a token atomically with the family's revocation state.
const RefreshTokenBytes = idBytes + 32

// refreshTokenLen is the encoded length of a refresh token (unpadded base64).
const refreshTokenLen = (RefreshTokenBytes*8 + 5) / 6

// exchangeScript spends a refresh token and stores its successor in one
// step, unless the family is revoked or the token changed since it was read
// (a concurrent exchange won). Every key is in the family's slot: safe on
// Redis Cluster.
//
// KEYS: 1 the spent token's record, 2 its grace record, 3 the new token's
// record, 4 the family's revoked marker.
// ARGV: 1 the record as read, 2 the record marked spent, 3 the sealed pair,
// 4 the grace window in ms (0: no grace record), 5 the new record, 6 its TTL
// in ms.
//
// Returns {1} when spent (also when ARGV[2] is already stored: a retry of
// this very call by the client library), {-1} when the family is revoked,
// and {0, current record, current grace record, revoked (0 or 1)} when the
// token is no longer as read.
const exchangeScript = `
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  if redis.call('EXISTS', KEYS[4]) == 1 then return {-1} end
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  if tonumber(ARGV[4]) > 0 then
    redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
  end
  redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[6])
  return {1}
end
if cur == ARGV[2] then return {1} end
return {0, cur, redis.call('GET', KEYS[2]), redis.call('EXISTS', KEYS[4])}
`

// refreshRecord is what Redis holds for a refresh token. Times are Unix
// nanoseconds on the strategy's clock (Config.Now), which is authoritative;
// the Redis TTLs only bound how long a record occupies memory.
type refreshRecord struct {
	User  string   `json:"u"`
	Roles []string `json:"r"`
	// Start is when the family's login happened.
	Start int64 `json:"fs"`
	// Expires is when this token stops being accepted.
	Expires int64 `json:"x"`
	// Spent is when the token was exchanged (zero while unspent).
	Spent int64 `json:"s,omitempty"`
	// Next is the fingerprint of the refresh token issued in exchange.
	Next string `json:"n,omitempty"`
}

func (r refreshRecord) principal() identity.Principal {
	return identity.Principal{User: r.User, Roles: r.Roles}
}

// familyEnd is when no token of r's family is accepted any more.
func (s *Strategy) familyEnd(r refreshRecord) time.Time {
	return time.Unix(0, r.Start).Add(s.cfg.FamilyLifetime)
}

// decodeRecord parses a stored record.
func decodeRecord(v string) (refreshRecord, bool) {
	var r refreshRecord
	if json.Unmarshal([]byte(v), &r) != nil || r.User == "" || r.Start == 0 || r.Expires == 0 ||
		r.Spent != 0 && !validFingerprint(r.Next) {
		return refreshRecord{}, false
	}
	return r, true
}

// refreshKeys are the Redis keys of one refresh token.
type refreshKeys struct {
	family, fp             string
	record, grace, revoked string
}

func keysFor(family, fp string) refreshKeys {
	rec := recordKey(family, fp)
	return refreshKeys{family: family, fp: fp, record: rec, grace: rec + ":grace", revoked: revokedKey(family)}
}

func recordKey(family, fp string) string { return keyPrefix + "{" + family + "}:rt:" + fp }

// minted is a freshly signed credential and, with Redis, the record to
// store for its refresh token.
type minted struct {
	cred   strategies.Credential
	fp     string        // fingerprint of cred.RefreshToken
	key    string        // Redis key of its record
	record []byte        // the record
	ttl    time.Duration // its Redis TTL
}

// mint signs an access token for p in family (whose login was at start)
// and, with a Redis client, creates a refresh token; it stores nothing. No
// token outlives the family.
func (s *Strategy) mint(p identity.Principal, family string, start, now time.Time) (minted, error) {
	end := start.Add(s.cfg.FamilyLifetime)
	c := Claims{
		Issuer:    s.cfg.Issuer,
		Subject:   p.User,
		Audience:  s.cfg.Audience,
		ExpiresAt: earliest(now.Add(s.cfg.AccessTTL), end).Unix(),
		NotBefore: now.Unix(),
		IssuedAt:  now.Unix(),
		ID:        newID(),
		Roles:     append([]string{}, p.Roles...),
		SessionID: family,
	}
	tok, err := s.sign(&c, s.cfg.KeyID)
	if err != nil {
		return minted{}, err
	}
	m := minted{cred: strategies.Credential{Token: tok, ExpiresAt: time.Unix(c.ExpiresAt, 0)}}
	if s.cfg.Client == nil {
		return m, nil
	}
	exp := earliest(now.Add(s.cfg.RefreshTTL), end)
	rt, err := newRefreshToken(family)
	if err != nil {
		return minted{}, err
	}
	rec, err := json.Marshal(refreshRecord{User: p.User, Roles: p.Roles, Start: start.UnixNano(), Expires: exp.UnixNano()})
	if err != nil {
		return minted{}, fmt.Errorf("jwt: encode refresh record: %w", err)
	}
	m.cred.RefreshToken, m.cred.RefreshExpiresAt = rt, exp
	m.fp = s.fp.Sum(rt)
	m.key, m.record = recordKey(family, m.fp), rec
	m.ttl = max(exp.Sub(now), time.Millisecond)
	return m, nil
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// Refresh implements strategies.Refresher: it spends refreshToken and issues
// a new access token and refresh token in the same session family.
//
//   - Presented again within Config.RefreshGrace of being spent, while the
//     refresh token issued for it is still unspent, it returns the pair
//     already issued (a client whose response was lost retries).
//   - Presented again otherwise, it revokes the whole family — every
//     refresh token descended from the login, the newest included, and with
//     the denylist every access token too — and fails with
//     strategies.ErrReused: a spent token in use usually means a stolen one.
//   - Past Config.FamilyLifetime since the login, or past the token's own
//     expiry, it fails with ErrInvalidCredential.
//
// Refresh needs Redis: with Redis down it fails with ErrUnavailable. Should
// Redis fail after spending the token but before replying, a retry within
// the grace window gets the pair. Without a Redis client it returns
// ErrNotSupported.
func (s *Strategy) Refresh(ctx context.Context, refreshToken string) (strategies.Credential, identity.Principal, error) {
	if refreshToken == "" {
		return fail(strategies.ErrNoCredential)
	}
	if s.cfg.Client == nil {
		return fail(fmt.Errorf("jwt: refresh without redis: %w", strategies.ErrNotSupported))
	}
	family, ok := parseRefreshToken(refreshToken)
	if !ok {
		return fail(fmt.Errorf("jwt: %w: malformed refresh token", strategies.ErrInvalidCredential))
	}
	k := keysFor(family, s.fp.Sum(refreshToken))
	vals, err := s.cfg.Client.MGet(ctx, k.record, k.grace, k.revoked).Result()
	if err != nil {
		return fail(fmt.Errorf("jwt: refresh: %w: %w", strategies.ErrUnavailable, err))
	}
	cur, ok := vals[0].(string)
	if !ok {
		return fail(fmt.Errorf("jwt: %w: unknown or expired refresh token", strategies.ErrInvalidCredential))
	}
	rec, ok := decodeRecord(cur)
	if !ok {
		return fail(s.corrupt(k, "record"))
	}
	sealed, _ := vals[1].(string)
	revoked := vals[2] != nil
	if rec.Spent != 0 {
		return s.retried(ctx, refreshToken, k, rec, sealed, revoked)
	}
	if revoked {
		return fail(errRevoked)
	}
	return s.exchange(ctx, refreshToken, k, cur, rec)
}

var errRevoked = fmt.Errorf("jwt: %w: session revoked", strategies.ErrInvalidCredential)

func fail(err error) (strategies.Credential, identity.Principal, error) {
	return strategies.Credential{}, identity.Principal{}, err
}

func (s *Strategy) corrupt(k refreshKeys, what string) error {
	s.log.Error("corrupt refresh token "+what, "fp", k.fp[:12], "family", k.family)
	return fmt.Errorf("jwt: %w: corrupt refresh token %s", strategies.ErrInvalidCredential, what)
}

// exchange spends the unspent token rt (whose record reads cur) for a new
// pair.
func (s *Strategy) exchange(ctx context.Context, rt string, k refreshKeys, cur string, rec refreshRecord) (strategies.Credential, identity.Principal, error) {
	now := s.cfg.Now()
	// A token never expires after its family's end (see mint): this also
	// enforces the family's absolute lifetime.
	if !now.Before(time.Unix(0, rec.Expires)) {
		return fail(fmt.Errorf("jwt: %w: refresh token expired (or its session reached its absolute lifetime)", strategies.ErrInvalidCredential))
	}
	p := rec.principal()
	m, err := s.mint(p, k.family, time.Unix(0, rec.Start), now)
	if err != nil {
		return fail(err)
	}
	spent := rec
	spent.Spent, spent.Next = now.UnixNano(), m.fp
	spentVal, err := json.Marshal(spent)
	if err != nil {
		return fail(fmt.Errorf("jwt: encode refresh record: %w", err))
	}
	var sealed []byte
	var graceMS int64
	if g := s.cfg.RefreshGrace; g > 0 {
		if sealed, err = s.sealPair(rt, k.fp, m.cred); err != nil {
			return fail(err)
		}
		graceMS = max(g.Milliseconds(), 1)
	}
	res, err := s.exchangeScript.Run(ctx, s.cfg.Client,
		[]string{k.record, k.grace, m.key, k.revoked},
		cur, spentVal, sealed, graceMS, m.record, m.ttl.Milliseconds()).Slice()
	if err != nil {
		return fail(fmt.Errorf("jwt: refresh: %w: %w", strategies.ErrUnavailable, err))
	}
	code, _ := res[0].(int64)
	switch {
	case code == 1:
		return m.cred, p, nil
	case code == -1:
		return fail(errRevoked)
	case code == 0 && len(res) == 4:
		// A concurrent presentation of rt spent it first: this one is a
		// retry of that one.
		cur, ok := res[1].(string)
		if !ok {
			return fail(fmt.Errorf("jwt: %w: unknown or expired refresh token", strategies.ErrInvalidCredential))
		}
		rec, ok := decodeRecord(cur)
		if !ok || rec.Spent == 0 {
			return fail(s.corrupt(k, "record"))
		}
		sealed, _ := res[2].(string)
		revoked, _ := res[3].(int64)
		return s.retried(ctx, rt, k, rec, sealed, revoked == 1)
	}
	return fail(fmt.Errorf("jwt: refresh: %w: unexpected script reply %v", strategies.ErrUnavailable, res))
}

// retried handles a presentation of the spent token rt: within the grace
// window, while the family lives and the pair's own refresh token is
// unspent, it returns the pair sealed for rt; otherwise it is reuse.
func (s *Strategy) retried(ctx context.Context, rt string, k refreshKeys, rec refreshRecord, sealed string, revoked bool) (strategies.Credential, identity.Principal, error) {
	now := s.cfg.Now()
	if g := s.cfg.RefreshGrace; g <= 0 || sealed == "" || now.Sub(time.Unix(0, rec.Spent)) > g {
		return fail(s.reused(ctx, k, rec, "outside the grace window"))
	}
	if revoked {
		return fail(errRevoked)
	}
	if !now.Before(s.familyEnd(rec)) {
		return fail(fmt.Errorf("jwt: %w: session reached its absolute lifetime", strategies.ErrInvalidCredential))
	}
	cred, err := s.openPair(rt, k.fp, sealed)
	if err != nil {
		return fail(s.corrupt(k, "grace record"))
	}
	// A client whose response was lost never saw the new refresh token;
	// once that one is spent, whoever presents the old one is not it.
	next, err := s.cfg.Client.Get(ctx, recordKey(k.family, rec.Next)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return fail(s.reused(ctx, k, rec, "its successor is gone"))
	case err != nil:
		return fail(fmt.Errorf("jwt: refresh: %w: %w", strategies.ErrUnavailable, err))
	}
	if nrec, ok := decodeRecord(next); !ok || nrec.Spent != 0 {
		return fail(s.reused(ctx, k, rec, "its successor was already spent"))
	}
	s.log.Debug("refresh retried within the grace window: the same pair sent again",
		"fp", k.fp[:12], "user", rec.User, "family", k.family)
	return cred, rec.principal(), nil
}

// reused revokes k's family after the spent token was presented again and
// returns the error for the caller (ErrReused, or ErrUnavailable when the
// revocation failed: the client retries and the revocation with it).
func (s *Strategy) reused(ctx context.Context, k refreshKeys, rec refreshRecord, why string) error {
	s.log.Warn("refresh token reuse detected: revoking the session family",
		"fp", k.fp[:12], "user", rec.User, "family", k.family, "why", why)
	_, err := s.cfg.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, k.revoked, "1", s.familyTTL())
		p.Del(ctx, k.grace)
		return nil
	})
	if err != nil {
		return fmt.Errorf("jwt: refresh token reuse detected, revoking family failed: %w: %w", strategies.ErrUnavailable, err)
	}
	return fmt.Errorf("jwt: refresh token presented again %s; session revoked: %w", why, strategies.ErrReused)
}

// newRefreshToken returns a refresh token of family (a newID value).
func newRefreshToken(family string) (string, error) {
	var b [RefreshTokenBytes]byte
	if n, err := base64.RawURLEncoding.Strict().Decode(b[:idBytes], []byte(family)); err != nil || n != idBytes {
		return "", fmt.Errorf("jwt: malformed session family id %q", family)
	}
	_, _ = rand.Read(b[idBytes:]) // never fails (crypto/rand, Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// parseRefreshToken returns the family of rt when rt has a refresh token's
// shape (canonical unpadded base64url of RefreshTokenBytes bytes).
func parseRefreshToken(rt string) (family string, ok bool) {
	if len(rt) != refreshTokenLen {
		return "", false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rt)
	if err != nil || len(b) != RefreshTokenBytes {
		return "", false
	}
	return base64.RawURLEncoding.EncodeToString(b[:idBytes]), true
}

// validFingerprint reports whether fp looks like a Fingerprinter.Sum value.
func validFingerprint(fp string) bool {
	if len(fp) != 64 {
		return false
	}
	_, err := hex.DecodeString(fp)
	return err == nil
}
