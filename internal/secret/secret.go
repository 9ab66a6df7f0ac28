// Package secret resolves secrets given by flag or environment. A secret has
// no silent default: when none is given, a random development value is
// generated and a loud warning logged, because several instances started
// that way will not share it.
package secret

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
)

// Resolve returns value when non-empty (it must be at least minLen bytes);
// otherwise a random base64url value of 32 bytes, with a warning naming
// flag. The bool reports whether the value was generated.
func Resolve(logger *slog.Logger, flag, value string, minLen int) (string, bool, error) {
	if value != "" {
		if len(value) < minLen {
			return "", false, fmt.Errorf("--%s is %d bytes, need at least %d", flag, len(value), minLen)
		}
		return value, false, nil
	}
	v := Random()
	logger.Warn("NO SECRET GIVEN: generated a random development value; instances that must share it will not",
		"flag", "--"+flag, "fix", "set --"+flag+" or its AUTHLAB_ environment variable")
	return v, true, nil
}

// Random returns 32 random bytes, base64url-encoded (43 characters).
func Random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}
