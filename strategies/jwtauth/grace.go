package jwtauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/authlab/authlab/strategies"
)

// The pair issued for a refresh token is kept for the grace window so that
// a retry can get it again, but never readable from Redis alone: it is
// sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the spent
// refresh token itself, salted with a secret derived from the fingerprint
// key. Only a presenter of the old token, at a server holding the key, can
// open it; the record lives for the grace window only, and its fingerprint
// is bound in as additional data.
const (
	graceInfo     = "authlab/jwt/refresh-grace/v1"
	graceSaltInfo = "authlab/jwt/refresh-grace-salt/v1"
)

// graceSalt derives the HKDF salt of grace records from the fingerprint
// key. It differs from the fingerprint key on purpose: HKDF-Extract with
// the fingerprint key as salt would be the fingerprint itself, which is
// the record's name in Redis.
func graceSalt(fingerprintKey []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, fingerprintKey, nil, graceSaltInfo, sha256.Size)
}

// sealedPair is the plaintext of a grace record. Times are Unix nanoseconds.
type sealedPair struct {
	Access     string `json:"a"`
	AccessExp  int64  `json:"ae"`
	Refresh    string `json:"r"`
	RefreshExp int64  `json:"re"`
}

func (s *Strategy) graceAEAD(rt string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(rt), s.graceSalt, graceInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// sealPair encrypts c for a later presentation of rt (fingerprint fp).
func (s *Strategy) sealPair(rt, fp string, c strategies.Credential) ([]byte, error) {
	pt, err := json.Marshal(sealedPair{
		Access: c.Token, AccessExp: c.ExpiresAt.UnixNano(),
		Refresh: c.RefreshToken, RefreshExp: c.RefreshExpiresAt.UnixNano(),
	})
	if err != nil {
		return nil, fmt.Errorf("jwt: encode grace record: %w", err)
	}
	aead, err := s.graceAEAD(rt)
	if err != nil {
		return nil, fmt.Errorf("jwt: grace record key: %w", err)
	}
	return aead.Seal(nil, nil, pt, []byte(fp)), nil
}

// openPair decrypts a grace record sealed for rt (fingerprint fp).
func (s *Strategy) openPair(rt, fp, sealed string) (strategies.Credential, error) {
	aead, err := s.graceAEAD(rt)
	if err != nil {
		return strategies.Credential{}, err
	}
	pt, err := aead.Open(nil, nil, []byte(sealed), []byte(fp))
	if err != nil {
		return strategies.Credential{}, err
	}
	var p sealedPair
	if err := json.Unmarshal(pt, &p); err != nil {
		return strategies.Credential{}, err
	}
	return strategies.Credential{
		Token: p.Access, ExpiresAt: time.Unix(0, p.AccessExp),
		RefreshToken: p.Refresh, RefreshExpiresAt: time.Unix(0, p.RefreshExp),
	}, nil
}
