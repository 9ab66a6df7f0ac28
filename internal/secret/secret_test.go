package secret

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
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

func TestWriteEnvFile(t *testing.T) {
	dir := t.TempDir()
	vars := []EnvVar{
		{Name: "AUTHLAB_ADMIN_TOKEN", Value: "tok-123", Comment: "the lb's admin token"},
		{Name: "ODD", Value: `it's $HOME "x"`},
	}
	path, err := WriteEnvFile(dir, "t-*.env", vars)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || filepath.Dir(path) != dir {
		t.Fatalf("%s: mode %v, want 0600 in %s", path, st.Mode().Perm(), dir)
	}
	// A shell sourcing the file gets the values back verbatim.
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to source the file")
	}
	out, err := exec.Command("sh", "-c", `. "$1" && printf '%s\n%s' "$AUTHLAB_ADMIN_TOKEN" "$ODD"`, "sh", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "tok-123\n"+vars[1].Value; got != want {
		t.Fatalf("sourced %q, want %q", got, want)
	}
	if _, err := WriteEnvFile(dir, "t-*.env", []EnvVar{{Name: "BAD NAME", Value: "x"}}); err == nil {
		t.Fatal("a bad variable name was written")
	}
}
