// Package requestid carries one request id across the hops of a request:
// the load balancer makes one when the client sent none (or an unusable
// one), the gateway forwards it to the backend, and every log line about the
// request names it.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/base64"
)

// Header is the HTTP header holding the request id.
const Header = "X-Request-Id"

// MaxLen bounds an accepted request id.
const MaxLen = 128

// New returns a fresh random request id (96 bits, 16 base64url characters).
func New() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Valid reports whether id may be passed on as given: 1..MaxLen characters
// from [A-Za-z0-9._~:-]. Anything else (empty, too long, spaces, control
// characters that could forge log lines) is replaced by New.
func Valid(id string) bool {
	if id == "" || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '~', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// OrNew returns id when Valid, else a fresh one.
func OrNew(id string) string {
	if Valid(id) {
		return id
	}
	return New()
}

type ctxKey struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the request id carried by ctx, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}
