package strategies

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Fingerprinter derives the storage key of a token: an HMAC-SHA256 of the
// token under a server key. Raw tokens are never used as keys nor logged; a
// stolen copy of the store (or of the logs) therefore yields no usable token.
type Fingerprinter struct {
	key []byte
}

// NewFingerprinter returns a Fingerprinter keyed with key (at least 32 bytes
// recommended). The key is copied.
func NewFingerprinter(key []byte) Fingerprinter {
	return Fingerprinter{key: append([]byte(nil), key...)}
}

// Sum returns the hex-encoded HMAC-SHA256 of token.
func (f Fingerprinter) Sum(token string) string {
	m := hmac.New(sha256.New, f.key)
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// Short returns the first 12 hex characters of the fingerprint: enough to
// correlate log lines, useless to an attacker.
func (f Fingerprinter) Short(token string) string {
	return f.Sum(token)[:12]
}
