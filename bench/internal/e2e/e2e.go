// Package e2e helps the harness's end-to-end tests: the authlab binary they
// start, built once per test binary, and the processes a run left behind.
package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	buildExe  string
	buildErr  error
	buildOut  []byte
)

// Binary builds cmd/authlab once per test binary, or skips the test with
// the reason when it does not build (and in -short mode).
func Binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped in -short mode")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "authlab-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		buildExe = filepath.Join(dir, "authlab")
		cmd := exec.Command("go", "build", "-o", buildExe, "github.com/authlab/authlab/cmd/authlab")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Skipf("end-to-end test skipped: go build ./cmd/authlab failed: %v\n%s", buildErr, buildOut)
	}
	return buildExe
}

// Leftovers lists running processes started from exe.
func Leftovers(exe string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if args[0] == exe {
			out = append(out, e.Name()+": "+strings.Join(args, " "))
		}
	}
	return out
}
