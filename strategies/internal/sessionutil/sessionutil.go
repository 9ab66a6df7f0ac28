// Package sessionutil holds what the cookie-session strategies (sticky and
// redis-session) share: session id generation and strict validation, the
// mapping between a Principal and gorilla/sessions values, and the cheap
// synthetic HTTP request/response used to drive a gorilla/sessions Store
// from an HTTP-free Strategy.
package sessionutil

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/sessions"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
)

// DefaultCookieName is the session cookie's name unless configured.
const DefaultCookieName = "authlab_session"

// IDBytes is the entropy of a session id: 256 bits.
const IDBytes = 32

// IDLen is the length of an encoded session id: 32 bytes, unpadded base64url.
const IDLen = 43

// Keys of the session values holding the principal.
const (
	KeyUser  = "user"
	KeyRoles = "roles"
	// KeyExpires holds a session's absolute expiry as int64 Unix
	// milliseconds, where the store cannot keep it itself (redis-session,
	// whose key TTL is the idle timeout).
	KeyExpires = "expires"
)

// NewID returns a fresh 256-bit random session id, unpadded base64url.
func NewID() (string, error) {
	var b [IDBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate session id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ValidID reports whether raw has the exact shape of an id made by NewID:
// 43 characters of the base64url alphabet whose last character carries no
// stray bits (so exactly one string encodes each id). It does no allocation
// and touches no store, so callers run it before any lookup.
func ValidID(raw string) bool {
	if len(raw) != IDLen {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if !isB64URL(raw[i]) {
			return false
		}
	}
	// 43 chars carry 258 bits; the last char's 2 low bits must be zero
	// (canonical encoding of 256 bits).
	return b64Value(raw[IDLen-1])&0x3 == 0
}

func isB64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

func b64Value(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A'
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26
	case '0' <= c && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	default: // '_'
		return 63
	}
}

// ValidateCookieName returns an error when name cannot be a configured
// session cookie name: not a cookie name at all, or carrying a __Host- or
// __Secure- prefix (the strategies add __Host- themselves when Secure, and
// a prefixed cookie without Secure is dropped by browsers).
func ValidateCookieName(name string) error {
	if err := (&http.Cookie{Name: name, Value: "x"}).Valid(); err != nil {
		return fmt.Errorf("cookie name %q: %w", name, err)
	}
	for _, p := range []string{strategies.HostCookiePrefix, "__Secure-"} {
		if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
			return fmt.Errorf("cookie name %q: configure the bare name, the %s prefix is added when cookies are Secure", name, strategies.HostCookiePrefix)
		}
	}
	return nil
}

// StoreOptions returns the gorilla/sessions options of a session store's
// cookies: Path=/, no Domain, HttpOnly, SameSite=Lax, Secure when secure,
// and maxAge.
func StoreOptions(maxAge int, secure bool) sessions.Options {
	return sessions.Options{
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// StoreCookie is the cookie a session store writes for session name: with
// secure it is named with strategies.HostCookiePrefix and forced to Secure,
// Path=/ and no Domain whatever opts say (a browser drops a __Host- cookie
// otherwise).
func StoreCookie(name, value string, opts *sessions.Options, secure bool) *http.Cookie {
	c := sessions.NewCookie(strategies.SessionCookieName(name, secure), value, opts)
	if secure {
		c.Secure, c.Path, c.Domain = true, "/", ""
	}
	return c
}

// ErrCorruptSession is wrapped by errors about session values that do not
// hold a well-formed principal.
var ErrCorruptSession = errors.New("session values do not hold a principal")

// SetPrincipal stores p in session values v (roles copied).
func SetPrincipal(v map[any]any, p identity.Principal) {
	v[KeyUser] = p.User
	v[KeyRoles] = slices.Clone(p.Roles)
}

// PrincipalFrom reads the principal from session values v. The returned
// roles are a copy: callers may not alias a store's memory.
func PrincipalFrom(v map[any]any) (identity.Principal, error) {
	u, ok := v[KeyUser].(string)
	if !ok || u == "" {
		return identity.Principal{}, fmt.Errorf("%w: missing user", ErrCorruptSession)
	}
	var roles []string
	switch r := v[KeyRoles].(type) {
	case []string:
		roles = slices.Clone(r)
	case nil:
	default:
		return identity.Principal{}, fmt.Errorf("%w: roles is %T", ErrCorruptSession, r)
	}
	return identity.Principal{User: u, Roles: roles}, nil
}

// Request returns a minimal synthetic request carrying ctx and, when value
// is not empty, the cookie name=value: all a gorilla/sessions Store reads.
func Request(ctx context.Context, name, value string) *http.Request {
	r := &http.Request{Method: http.MethodGet, Header: http.Header{}}
	if value != "" {
		r.Header["Cookie"] = []string{name + "=" + value}
	}
	return r.WithContext(ctx)
}

// ResponseWriter is a minimal http.ResponseWriter capturing the headers a
// Store writes (Set-Cookie); the body and status are discarded.
type ResponseWriter struct {
	h http.Header
}

// Header implements http.ResponseWriter.
func (w *ResponseWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}

// Write implements http.ResponseWriter; the body is discarded.
func (w *ResponseWriter) Write(b []byte) (int, error) { return len(b), nil }

// WriteHeader implements http.ResponseWriter; the status is discarded.
func (w *ResponseWriter) WriteHeader(int) {}

// SetCookies returns the Set-Cookie headers written so far.
func (w *ResponseWriter) SetCookies() []*http.Cookie {
	if w.h == nil {
		return nil
	}
	return (&http.Response{Header: w.h}).Cookies()
}
