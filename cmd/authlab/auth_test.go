package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestRunAuthWritesGeneratedPasswordsToAFile: generated passwords go to a
// 0600 file (removed at exit), never to stdout or the log.
func TestRunAuthWritesGeneratedPasswordsToAFile(t *testing.T) {
	t.Setenv("AUTHLAB_SEED_PASSWORD", "")
	t.Setenv("AUTHLAB_ADMIN_PASSWORD", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runAuth(ctx, []string{"--listen", "127.0.0.1:0", "--seed-users", "3", "--bcrypt-cost", "4",
			"--secrets-dir", t.TempDir()}, &stdout, &stderr)
	}()
	m := waitOutput(t, &stdout, regexp.MustCompile(`written to (\S+) `), done)
	vars := sourceEnv(t, m[1])
	for _, name := range []string{"AUTHLAB_SEED_PASSWORD", "AUTHLAB_ADMIN_PASSWORD"} {
		v := vars[name]
		if len(v) < 32 {
			t.Fatalf("%s missing from the file: %v", name, vars)
		}
		if strings.Contains(stdout.String()+stderr.String(), v) {
			t.Errorf("%s was printed:\n%s%s", name, stdout.String(), stderr.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m[1]); err == nil {
		t.Errorf("%s still exists after exit", m[1])
	}
}
