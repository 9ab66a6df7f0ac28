package strategies

import (
	"net/http"
	"strings"
	"time"
)

// MaxCredentialLen bounds any raw credential accepted from a client. Longer
// values are rejected before any parsing or store lookup.
const MaxCredentialLen = 4096

// Transport moves a credential between client and gateway.
type Transport interface {
	// Extract returns the raw credential of r, or "" when r has none.
	Extract(r *http.Request) string
	// Write hands c to the client (a Set-Cookie header; bearer transports
	// return tokens in the JSON body instead and write nothing).
	Write(w http.ResponseWriter, c Credential)
	// Clear tells the client to drop its credential.
	Clear(w http.ResponseWriter)
}

// TransportFor returns the transport matching caps.
func TransportFor(caps Capabilities, secureCookies bool) Transport {
	switch caps.Transport {
	case TransportCookie:
		return CookieTransport{Name: caps.CookieName, Secure: secureCookies}
	case TransportBearer:
		return BearerTransport{}
	default:
		return NoTransport{}
	}
}

// HostCookiePrefix is the cookie name prefix browsers accept only on a
// cookie set with Secure, Path=/ and no Domain (RFC 6265bis §4.1.3.2): such
// a cookie cannot have been set or overwritten by a sibling subdomain or over
// plain HTTP ("cookie tossing", session fixation from a neighbour).
const HostCookiePrefix = "__Host-"

// SessionCookieName returns the on-the-wire name of cookie name: name itself,
// or HostCookiePrefix+name when secure. It is idempotent (an already
// prefixed name is returned as is).
func SessionCookieName(name string, secure bool) string {
	if !secure || strings.HasPrefix(name, HostCookiePrefix) {
		return name
	}
	return HostCookiePrefix + name
}

// CookieTransport carries the credential in an HttpOnly, SameSite=Lax cookie
// with Path=/ and no Domain. When Secure, the cookie also carries Secure and
// its name gets HostCookiePrefix; Extract then reads the prefixed name only,
// so a cookie without the prefix (which a subdomain or a plain-HTTP response
// could have planted) is never accepted.
type CookieTransport struct {
	Name   string
	Secure bool // set when served over TLS
}

// CookieName returns the cookie's name on the wire (see SessionCookieName).
func (t CookieTransport) CookieName() string { return SessionCookieName(t.Name, t.Secure) }

// Extract implements Transport.
func (t CookieTransport) Extract(r *http.Request) string {
	c, err := r.Cookie(t.CookieName())
	if err != nil {
		return ""
	}
	return c.Value
}

// Write implements Transport.
func (t CookieTransport) Write(w http.ResponseWriter, c Credential) {
	ck := &http.Cookie{
		Name:     t.CookieName(),
		Value:    c.Token,
		Path:     "/",
		HttpOnly: true,
		Secure:   t.Secure,
		SameSite: http.SameSiteLaxMode,
	}
	if !c.ExpiresAt.IsZero() {
		ck.Expires = c.ExpiresAt.UTC()
		ck.MaxAge = int(time.Until(c.ExpiresAt).Seconds())
	}
	http.SetCookie(w, ck)
}

// Clear implements Transport.
func (t CookieTransport) Clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: t.CookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: t.Secure, SameSite: http.SameSiteLaxMode,
	})
}

// BearerTransport carries the credential in "Authorization: Bearer <token>".
type BearerTransport struct{}

// Extract implements Transport.
func (BearerTransport) Extract(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return ""
	}
	return strings.TrimSpace(h[len(prefix):])
}

// Write implements Transport: bearer tokens travel in the login response body.
func (BearerTransport) Write(http.ResponseWriter, Credential) {}

// Clear implements Transport: nothing to clear on the client side.
func (BearerTransport) Clear(http.ResponseWriter) {}

// NoTransport is the transport of the "none" strategy.
type NoTransport struct{}

// Extract implements Transport.
func (NoTransport) Extract(*http.Request) string { return "" }

// Write implements Transport.
func (NoTransport) Write(http.ResponseWriter, Credential) {}

// Clear implements Transport.
func (NoTransport) Clear(http.ResponseWriter) {}
