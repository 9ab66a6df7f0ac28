package strategies

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
)

// Fingerprinter derives the storage key of a token: an HMAC-SHA256 of the
// token under a server key. Raw tokens are never used as keys nor logged; a
// stolen copy of the store (or of the logs) therefore yields no usable token.
//
// It sits on every request's path, so HMAC states are pooled: a fresh
// hmac.New costs two SHA-256 states and the key schedule per call.
type Fingerprinter struct {
	pool *sync.Pool
}

// NewFingerprinter returns a Fingerprinter keyed with key (at least 32 bytes
// recommended). The key is copied.
func NewFingerprinter(key []byte) Fingerprinter {
	k := append([]byte(nil), key...)
	return Fingerprinter{pool: &sync.Pool{New: func() any { return hmac.New(sha256.New, k) }}}
}

// Sum returns the hex-encoded HMAC-SHA256 of token.
func (f Fingerprinter) Sum(token string) string {
	m := f.pool.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(token))
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	f.pool.Put(m)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// Short returns the first 12 hex characters of the fingerprint: enough to
// correlate log lines, useless to an attacker.
func (f Fingerprinter) Short(token string) string {
	return f.Sum(token)[:12]
}
