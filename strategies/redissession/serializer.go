package redissession

import (
	"encoding/json"
	"fmt"

	"github.com/gorilla/sessions"
	"github.com/rbcervilla/redisstore/v9"

	"github.com/authlab/authlab/strategies/internal/sessionutil"
)

// record is the JSON form of a session in Redis:
// {"u":"alice","r":["user"],"x":1767225600000}. X is the absolute expiry in
// Unix milliseconds: with an idle timeout the key's TTL only measures
// idleness (every read refreshes it), so the absolute lifetime travels with
// the value and is checked in code.
type record struct {
	User  string   `json:"u"`
	Roles []string `json:"r,omitempty"`
	X     int64    `json:"x"`
}

// decodeRecord parses b and checks it holds a user and an absolute expiry.
// A record without expiry is refused: refreshing its TTL on every read
// could keep it alive forever. Errors wrap sessionutil.ErrCorruptSession.
func decodeRecord(b []byte) (record, error) {
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return record{}, fmt.Errorf("redis-session: %w: %w", sessionutil.ErrCorruptSession, err)
	}
	switch {
	case rec.User == "":
		return record{}, fmt.Errorf("redis-session: %w: missing user", sessionutil.ErrCorruptSession)
	case rec.X <= 0:
		return record{}, fmt.Errorf("redis-session: %w: missing absolute expiry", sessionutil.ErrCorruptSession)
	}
	return rec, nil
}

// JSONSerializer is a redisstore.SessionSerializer storing the session's
// principal and absolute expiry as a small JSON object instead of
// redisstore's default gob stream (which re-sends type information with
// every value and costs several times more to decode; see BenchmarkDecode).
// It only accepts the values the strategy writes (sessionutil.KeyUser,
// sessionutil.KeyRoles, sessionutil.KeyExpires as int64 Unix milliseconds,
// all required but the roles) and refuses anything else rather than
// dropping it silently. All its errors wrap sessionutil.ErrCorruptSession,
// so callers can tell bad data from a Redis failure.
type JSONSerializer struct{}

var _ redisstore.SessionSerializer = JSONSerializer{}

// Serialize implements redisstore.SessionSerializer.
func (JSONSerializer) Serialize(s *sessions.Session) ([]byte, error) {
	var rec record
	for k, v := range s.Values {
		var ok bool
		switch k {
		case sessionutil.KeyUser:
			rec.User, ok = v.(string)
		case sessionutil.KeyRoles:
			rec.Roles, ok = v.([]string)
		case sessionutil.KeyExpires:
			rec.X, ok = v.(int64)
		default:
			return nil, fmt.Errorf("redis-session: serialize: %w: unsupported session key %v", sessionutil.ErrCorruptSession, k)
		}
		if !ok {
			return nil, fmt.Errorf("redis-session: serialize: %w: %q has type %T", sessionutil.ErrCorruptSession, k, v)
		}
	}
	switch {
	case rec.User == "":
		return nil, fmt.Errorf("redis-session: serialize: %w: missing user", sessionutil.ErrCorruptSession)
	case rec.X <= 0:
		return nil, fmt.Errorf("redis-session: serialize: %w: missing absolute expiry", sessionutil.ErrCorruptSession)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("redis-session: serialize: %w", err)
	}
	return b, nil
}

// Deserialize implements redisstore.SessionSerializer.
func (JSONSerializer) Deserialize(b []byte, s *sessions.Session) error {
	rec, err := decodeRecord(b)
	if err != nil {
		return err
	}
	if s.Values == nil {
		s.Values = make(map[any]any, 3)
	}
	s.Values[sessionutil.KeyUser] = rec.User
	s.Values[sessionutil.KeyRoles] = rec.Roles
	s.Values[sessionutil.KeyExpires] = rec.X
	return nil
}
