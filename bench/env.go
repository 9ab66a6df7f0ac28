package bench

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/authlab/authlab/bench/report"
)

// CaptureEnvironment describes the machine and build. Redis fields are
// left for the caller. Anything unreadable is "unknown", never an error.
func CaptureEnvironment(ctx context.Context) report.Environment {
	e := report.Environment{
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
		CPUs:      runtime.NumCPU(),
		GoVersion: runtime.Version(),
		Kernel:    "unknown",
		CPUModel:  "unknown",
		GitCommit: "unknown",
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.Kernel = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		e.CPUModel = cpuModel(f)
		f.Close()
	}
	e.GitCommit, e.GitDirty = gitCommit(ctx)
	return e
}

// cpuModel returns the first "model name" of a /proc/cpuinfo.
func cpuModel(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// gitCommit is the commit the running binary was built from: its VCS
// stamp (what was measured, even when the working tree has moved on since
// the build), else the working tree's commit as git reports it (a binary
// built without VCS information, e.g. go run or -buildvcs=false).
func gitCommit(ctx context.Context) (string, bool) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev string
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			return rev, dirty
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		commit := strings.TrimSpace(string(out))
		st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output()
		return commit, err == nil && len(strings.TrimSpace(string(st))) > 0
	}
	return "unknown", false
}
