package opaque

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/authlab/authlab/strategies"
)

// Token format: TokenPrefix followed by 32 random bytes (256 bits from
// crypto/rand) in unpadded base64url, TokenLen characters in all, e.g.
//
//	alo_Se4Bq2p8E6cSG4vYePVX4mBmR5Hl8x0BzEyF1AgMYAc
//
// The fixed prefix ("authlab opaque") makes a leaked token greppable in
// logs, repositories and secret scanners, and lets Authenticate reject a
// credential of another kind without a store lookup.
const (
	TokenPrefix   = "alo_"
	tokenBytes    = 32
	tokenBodyLen  = 43 // base64.RawURLEncoding.EncodedLen(tokenBytes)
	TokenLen      = len(TokenPrefix) + tokenBodyLen
	fingerprintHx = 64 // hex-encoded HMAC-SHA256
)

// newToken returns a fresh random token.
func newToken() (string, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("opaque: generate token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Shape errors are built once: rejecting garbage (a flood of it, say)
// costs no allocation, and no error ever echoes the credential.
var (
	errLength    = fmt.Errorf("opaque: token length is not %d: %w", TokenLen, strategies.ErrInvalidCredential)
	errPrefix    = fmt.Errorf("opaque: token lacks the %q prefix: %w", TokenPrefix, strategies.ErrInvalidCredential)
	errAlphabet  = fmt.Errorf("opaque: token has a byte outside the base64url alphabet: %w", strategies.ErrInvalidCredential)
	errCanonical = fmt.Errorf("opaque: token is not canonically encoded: %w", strategies.ErrInvalidCredential)
)

// checkShape rejects anything that is not a well-formed token, before any
// cache or store lookup: ErrNoCredential for "", ErrInvalidCredential for a
// wrong length, prefix or alphabet, or a non-canonical final character (43
// base64 characters carry 258 bits; the last 2 must be zero).
func checkShape(raw string) error {
	if raw == "" {
		return strategies.ErrNoCredential
	}
	if len(raw) != TokenLen {
		return errLength
	}
	if !strings.HasPrefix(raw, TokenPrefix) {
		return errPrefix
	}
	body := raw[len(TokenPrefix):]
	var last int
	for i := range len(body) {
		last = b64URLValue(body[i])
		if last < 0 {
			return errAlphabet
		}
	}
	if last&3 != 0 {
		return errCanonical
	}
	return nil
}

// b64URLValue returns the 6-bit value of c in the base64url alphabet, or -1.
func b64URLValue(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	default:
		return -1
	}
}

// isFingerprint reports whether s looks like a hex HMAC-SHA256 (an
// invalidation message's payload).
func isFingerprint(s string) bool {
	if len(s) != fingerprintHx {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
