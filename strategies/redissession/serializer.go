package redissession

import (
	"encoding/json"
	"fmt"

	"github.com/gorilla/sessions"
	"github.com/rbcervilla/redisstore/v9"

	"github.com/authlab/authlab/strategies/internal/sessionutil"
)

// record is the JSON form of a session in Redis: {"u":"alice","r":["user"]}.
type record struct {
	User  string   `json:"u"`
	Roles []string `json:"r,omitempty"`
}

// JSONSerializer is a redisstore.SessionSerializer storing the session's
// principal as a small JSON object instead of redisstore's default gob
// stream (which re-sends type information with every value and costs several
// times more to decode; see BenchmarkDecode). It only accepts the values the
// strategy writes (sessionutil.KeyUser, sessionutil.KeyRoles) and refuses
// anything else rather than dropping it silently. All its errors wrap
// sessionutil.ErrCorruptSession, so callers can tell bad data from a Redis
// failure.
type JSONSerializer struct{}

var _ redisstore.SessionSerializer = JSONSerializer{}

// Serialize implements redisstore.SessionSerializer.
func (JSONSerializer) Serialize(s *sessions.Session) ([]byte, error) {
	var rec record
	for k, v := range s.Values {
		switch k {
		case sessionutil.KeyUser:
			u, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("redis-session: serialize: %w: %q is %T, want string", sessionutil.ErrCorruptSession, k, v)
			}
			rec.User = u
		case sessionutil.KeyRoles:
			r, ok := v.([]string)
			if !ok {
				return nil, fmt.Errorf("redis-session: serialize: %w: %q is %T, want []string", sessionutil.ErrCorruptSession, k, v)
			}
			rec.Roles = r
		default:
			return nil, fmt.Errorf("redis-session: serialize: %w: unsupported session key %v", sessionutil.ErrCorruptSession, k)
		}
	}
	if rec.User == "" {
		return nil, fmt.Errorf("redis-session: serialize: %w: missing user", sessionutil.ErrCorruptSession)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("redis-session: serialize: %w", err)
	}
	return b, nil
}

// Deserialize implements redisstore.SessionSerializer.
func (JSONSerializer) Deserialize(b []byte, s *sessions.Session) error {
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("redis-session: %w: %w", sessionutil.ErrCorruptSession, err)
	}
	if rec.User == "" {
		return fmt.Errorf("redis-session: %w: missing user", sessionutil.ErrCorruptSession)
	}
	if s.Values == nil {
		s.Values = make(map[any]any, 2)
	}
	s.Values[sessionutil.KeyUser] = rec.User
	s.Values[sessionutil.KeyRoles] = rec.Roles
	return nil
}
