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
	"os"
	"strings"
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

// EnvVar is one variable of an env file.
type EnvVar struct {
	Name, Value string
	// Comment, when set, is written on the line above.
	Comment string
}

// WriteEnvFile writes vars as shell export lines to a new file in dir (the
// system temporary directory when empty), named after pattern as
// os.CreateTemp does, readable and writable by its owner only (0600). It
// returns the file's path: `source` it to use the secrets, so that they
// never appear on a terminal or in a process's arguments. The caller
// removes the file when the secrets expire.
func WriteEnvFile(dir, pattern string, vars []EnvVar) (string, error) {
	var b strings.Builder
	b.WriteString("# authlab secrets; source this file. Do not share it.\n")
	for _, v := range vars {
		if !validEnvName(v.Name) {
			return "", fmt.Errorf("env file: bad variable name %q", v.Name)
		}
		if v.Comment != "" {
			b.WriteString("# " + strings.ReplaceAll(v.Comment, "\n", " ") + "\n")
		}
		b.WriteString("export " + v.Name + "=" + shellQuote(v.Value) + "\n")
	}
	f, err := os.CreateTemp(dir, pattern) // mode 0600
	if err != nil {
		return "", fmt.Errorf("env file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil { // whatever the umask did
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("env file: %w", err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("env file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("env file: %w", err)
	}
	return f.Name(), nil
}

func validEnvName(s string) bool {
	if s == "" || ('0' <= s[0] && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// shellQuote single-quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
