package sticky

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/sessions"

	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/internal/sessionutil"
)

// ErrFull is returned (wrapping strategies.ErrUnavailable, so the gateway
// answers 503) when a new session would exceed Config.MaxSessions. The store
// refuses new sessions rather than evicting existing ones: eviction would let
// whoever can log in repeatedly push other users' sessions out.
var ErrFull = fmt.Errorf("session store full: %w", strategies.ErrUnavailable)

// errGone: Save of a session that no longer exists (expired or logged out
// between New and Save). The store never re-creates it under the old id,
// which would let a client choose its session id (fixation).
var errGone = errors.New("session no longer exists")

type entry struct {
	principal strategies.Principal
	created   time.Time
	lastSeen  atomic.Int64 // unix nanoseconds, for the idle timeout
}

// Store is an in-memory gorilla/sessions Store. Sessions are keyed by the
// HMAC fingerprint of their id; the raw id lives only in the client's cookie
// (and transiently in Session.ID). Its methods are safe for concurrent use.
type Store struct {
	fp      strategies.Fingerprinter
	now     func() time.Time
	ttl     time.Duration
	idle    time.Duration
	max     int
	options sessions.Options

	mu sync.RWMutex
	m  map[string]*entry
}

var _ sessions.Store = (*Store)(nil)

func newStore(cfg Config, fp strategies.Fingerprinter) *Store {
	return &Store{
		fp:   fp,
		now:  cfg.Now,
		ttl:  cfg.TTL,
		idle: cfg.IdleTTL,
		max:  cfg.MaxSessions,
		options: sessions.Options{
			Path:     "/",
			MaxAge:   int(cfg.TTL / time.Second),
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		},
		m: make(map[string]*entry),
	}
}

// Get implements sessions.Store: the session of r's cookie name, cached in
// the request's registry.
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New implements sessions.Store. It returns the live session named by r's
// cookie, or a new empty session (IsNew, no ID) when the cookie is absent,
// unknown, expired or malformed; a malformed cookie also yields an error
// wrapping strategies.ErrInvalidCredential. It never returns a nil session.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	session := sessions.NewSession(s, name)
	opts := s.options
	session.Options = &opts
	session.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return session, nil
	}
	if !sessionutil.ValidID(c.Value) {
		return session, fmt.Errorf("sticky: malformed session cookie: %w", strategies.ErrInvalidCredential)
	}
	p, ok := s.lookup(c.Value)
	if !ok {
		return session, nil
	}
	session.ID = c.Value
	session.Values[sessionutil.KeyUser] = p.User
	session.Values[sessionutil.KeyRoles] = p.Roles // lookup returned a copy
	session.IsNew = false
	return session, nil
}

// Save implements sessions.Store. MaxAge < 0 deletes the session. A session
// without ID gets a fresh random one (the only way ids are made); a session
// with an ID must still exist. The values must hold a principal.
func (s *Store) Save(_ *http.Request, w http.ResponseWriter, session *sessions.Session) error {
	if session.Options != nil && session.Options.MaxAge < 0 {
		if session.ID != "" {
			s.remove(session.ID)
		}
		http.SetCookie(w, sessions.NewCookie(session.Name(), "", session.Options))
		return nil
	}
	p, err := sessionutil.PrincipalFrom(session.Values)
	if err != nil {
		return fmt.Errorf("sticky: save: %w", err)
	}
	if session.ID == "" {
		id, err := sessionutil.NewID()
		if err != nil {
			return fmt.Errorf("sticky: %w", err)
		}
		if err := s.insert(id, p); err != nil {
			return err
		}
		session.ID = id
	} else if err := s.update(session.ID, p); err != nil {
		return err
	}
	opts := session.Options
	if opts == nil {
		opts = &s.options
	}
	http.SetCookie(w, sessions.NewCookie(session.Name(), session.ID, opts))
	return nil
}

// Len returns the number of sessions held, expired ones not yet swept
// included.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

func (s *Store) expired(e *entry, now time.Time) bool {
	if !now.Before(e.created.Add(s.ttl)) {
		return true
	}
	return s.idle > 0 && !now.Before(time.Unix(0, e.lastSeen.Load()).Add(s.idle))
}

// lookup returns a copy of the principal of live session id and refreshes
// its idle timer. Read lock only: the idle timer is an atomic.
func (s *Store) lookup(id string) (strategies.Principal, bool) {
	key := s.fp.Sum(id)
	s.mu.RLock()
	e, ok := s.m[key]
	s.mu.RUnlock()
	if !ok {
		return strategies.Principal{}, false
	}
	now := s.now()
	if s.expired(e, now) {
		s.removeKey(key, e)
		return strategies.Principal{}, false
	}
	e.lastSeen.Store(now.UnixNano())
	return strategies.Principal{User: e.principal.User, Roles: append([]string(nil), e.principal.Roles...)}, true
}

func (s *Store) insert(id string, p strategies.Principal) error {
	key := s.fp.Sum(id)
	now := s.now()
	e := &entry{principal: strategies.Principal{User: p.User, Roles: append([]string(nil), p.Roles...)}, created: now}
	e.lastSeen.Store(now.UnixNano())
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		s.sweepLocked(now)
		if len(s.m) >= s.max {
			return fmt.Errorf("sticky: %d sessions: %w", len(s.m), ErrFull)
		}
	}
	if _, dup := s.m[key]; dup { // 2^-256; refuse rather than overwrite
		return fmt.Errorf("sticky: session id collision")
	}
	s.m[key] = e
	return nil
}

func (s *Store) update(id string, p strategies.Principal) error {
	key := s.fp.Sum(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.m[key]
	if !ok || s.expired(old, s.now()) {
		return fmt.Errorf("sticky: save: %w", errGone)
	}
	e := &entry{principal: strategies.Principal{User: p.User, Roles: append([]string(nil), p.Roles...)}, created: old.created}
	e.lastSeen.Store(old.lastSeen.Load())
	s.m[key] = e
	return nil
}

func (s *Store) remove(id string) {
	key := s.fp.Sum(id)
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

// removeKey deletes key only if it still maps to e.
func (s *Store) removeKey(key string, e *entry) {
	s.mu.Lock()
	if s.m[key] == e {
		delete(s.m, key)
	}
	s.mu.Unlock()
}

// Sweep deletes expired sessions and returns how many it deleted. Expired
// sessions are collected under the read lock, then deleted in one short
// write-locked pass.
func (s *Store) Sweep() int {
	now := s.now()
	var dead []string
	s.mu.RLock()
	for k, e := range s.m {
		if s.expired(e, now) {
			dead = append(dead, k)
		}
	}
	s.mu.RUnlock()
	if len(dead) == 0 {
		return 0
	}
	n := 0
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range dead {
		if e, ok := s.m[k]; ok && s.expired(e, now) {
			delete(s.m, k)
			n++
		}
	}
	return n
}

func (s *Store) sweepLocked(now time.Time) {
	for k, e := range s.m {
		if s.expired(e, now) {
			delete(s.m, k)
		}
	}
}
