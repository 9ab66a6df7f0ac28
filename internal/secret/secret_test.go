package secret

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	v, gen, err := Resolve(logger, "jwt-secret", strings.Repeat("x", 32), 32)
	if err != nil || gen || v != strings.Repeat("x", 32) || logs.Len() != 0 {
		t.Fatalf("given secret: %q %v %v, logs %q", v, gen, err, logs.String())
	}
	if _, _, err := Resolve(logger, "jwt-secret", "short", 32); err == nil || !strings.Contains(err.Error(), "--jwt-secret") {
		t.Fatalf("short secret: err = %v", err)
	}
	a, gen, err := Resolve(logger, "jwt-secret", "", 32)
	if err != nil || !gen || len(a) < 32 {
		t.Fatalf("generated: %q %v %v", a, gen, err)
	}
	if !strings.Contains(logs.String(), "NO SECRET GIVEN") || !strings.Contains(logs.String(), "--jwt-secret") {
		t.Fatalf("no loud warning: %q", logs.String())
	}
	b, _, _ := Resolve(logger, "jwt-secret", "", 32)
	if a == b {
		t.Fatal("two generated secrets are equal")
	}
}
