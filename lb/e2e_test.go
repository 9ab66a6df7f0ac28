package lb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/netutil"
)

// syncBuffer collects a process's output for the failure log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// buildAuthlab builds the real authlab binary into a temporary directory.
func buildAuthlab(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the source file")
	}
	root := filepath.Dir(filepath.Dir(file))
	bin := filepath.Join(t.TempDir(), "authlab")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/authlab")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/authlab: %v\n%s", err, out)
	}
	return bin
}

// startProc starts bin with args and env; it is SIGKILLed at test end if
// still running. The returned channel is closed when it has exited.
func startProc(t *testing.T, name, bin string, env []string, args ...string) (*exec.Cmd, <-chan struct{}, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return cmd, done, out
}

// TestEndToEndRealGateways runs `authlab lb` in front of real `authlab
// gateway` children (strategy none) with the real auth and backend
// services, kills and revives an instance under --retry, and checks that
// no child survives the lb's SIGTERM.
func TestEndToEndRealGateways(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	bin := buildAuthlab(t)
	addr := func() string {
		a, err := netutil.FreeLoopbackAddr()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	authAddr, backendAddr, lbAddr, lbAdminAddr := addr(), addr(), addr(), addr()
	const (
		assertionKey = "e2e-assertion-key-0123456789abcdefghij"
		password     = "e2e-password"
	)
	// Secrets by environment only: none in any process's arguments.
	env := []string{"AUTHLAB_ASSERTION_KEY=" + assertionKey, "AUTHLAB_LOG_LEVEL=warn"}
	startProc(t, "auth", bin, append(env, "AUTHLAB_SEED_PASSWORD="+password, "AUTHLAB_ADMIN_PASSWORD="+password+"-admin"),
		"auth", "--listen", authAddr, "--seed-users", "5", "--bcrypt-cost", "4")
	startProc(t, "backend", bin, env, "backend", "--listen", backendAddr)
	lbCmd, lbDone, lbOut := startProc(t, "lb", bin,
		append(env, "AUTHLAB_ADMIN_TOKEN="+testAdminToken, "AUTHLAB_INSTANCE_ADMIN_TOKEN="+testInstanceToken),
		"lb", "--listen", lbAddr, "--admin-listen", lbAdminAddr, "--instances", "2",
		"--retry", "--health-interval", "100ms", "--health-rise", "2",
		"--", "--strategy", "none", "--auth-url", "http://"+authAddr, "--backend-url", "http://"+backendAddr)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, a := range []string{authAddr, backendAddr} {
		if err := netutil.WaitHTTP(ctx, "http://"+a+"/healthz"); err != nil {
			t.Fatal(err)
		}
	}
	wctx, wcancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-lbDone: // exited: stop waiting for it
		case <-wctx.Done():
		}
		wcancel()
	}()
	err := netutil.WaitHTTP(wctx, "http://"+lbAddr+"/healthz")
	wcancel()
	if err != nil {
		t.Fatalf("lb: %v\n%s", err, lbOut.String())
	}
	h := &harness{t: t, base: "http://" + lbAddr, adminBase: "http://" + lbAdminAddr}

	// The admin planes: the lb's on its own port, each gateway's on the
	// admin address the lb lists, guarded by the instances' token (not the
	// lb's); none of it through the data port.
	for _, in := range h.instances() {
		if in.AdminAddress == "" || in.AdminAddress == in.Address {
			t.Fatalf("%s listed without an admin address of its own: %+v", in.ID, in)
		}
		for token, want := range map[string]int{testInstanceToken: 200, testAdminToken: 401} {
			req, _ := http.NewRequest("GET", "http://"+in.AdminAddress+"/_admin/stats", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s admin address: %v", in.ID, err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("%s /_admin/stats with the %s token: %d, want %d", in.ID, map[bool]string{true: "instance", false: "lb"}[token == testInstanceToken], resp.StatusCode, want)
			}
		}
	}
	for _, p := range []string{"/_lb/instances", "/_admin/stats", "/metrics"} {
		if resp, _, err := h.get(p); err != nil || resp.StatusCode != 404 {
			t.Errorf("GET %s on the data port: %v %v, want 404", p, err, resp)
		}
	}

	login := func(user, pass string) (*http.Response, []byte) {
		body, _ := json.Marshal(map[string]string{"username": user, "password": pass})
		resp, err := client.Post(h.base+"/auth/login", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	seen := map[string]bool{}
	for range 4 {
		resp, body := login("user0001", "wrong")
		var e struct{ Error string }
		if resp.StatusCode != 401 || json.Unmarshal(body, &e) != nil || e.Error != "unauthorized" {
			t.Fatalf("wrong password: %d %s, want 401 unauthorized", resp.StatusCode, body)
		}
		seen[resp.Header.Get(InstanceHeader)] = true
	}
	if !seen["gw1"] || !seen["gw2"] {
		t.Fatalf("instances seen %v, want gw1 and gw2", seen)
	}
	if resp, body := login("user0001", password); resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	} else if id := resp.Header.Get("X-Request-Id"); id == "" {
		t.Errorf("login answer without X-Request-Id")
	}
	resp, body, err := h.get("/api/me")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/me: %v %v %s", err, resp, body)
	}

	// SIGKILL gw1 under load: with --retry no GET fails.
	stop, killed := make(chan struct{}), make(chan struct{})
	done := make(chan []loadResult)
	go func() { done <- runLoad(h, 4, "/api/me", stop, killed) }()
	h.waitFor("load on gw1", func() bool { return h.instances()["gw1"].Served >= 20 })
	gw1 := h.instances()["gw1"]
	h.mustAdmin("POST", "/_lb/instances/gw1/kill?mode=sigkill", 200)
	close(killed)
	if !processGone(gw1.PID) {
		t.Errorf("gw1 pid %d alive after sigkill", gw1.PID)
	}
	h.mustAdmin("POST", "/_lb/instances/gw1/revive", 200)
	h.waitState("gw1", StateUp)
	before := h.instances()["gw1"].Served
	h.waitFor("gw1 back in rotation", func() bool { return h.instances()["gw1"].Served >= before+20 })
	close(stop)
	for i, r := range <-done {
		if r.failures > 0 {
			t.Errorf("client %d: %d failed GETs with --retry", i, r.failures)
		}
	}

	var pids []int
	for _, in := range h.instances() {
		pids = append(pids, in.PID)
	}
	for _, pid := range append([]int{lbCmd.Process.Pid}, pids...) {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{testAdminToken, testInstanceToken, assertionKey, password} {
			if strings.Contains(string(cmdline), s) {
				t.Errorf("a secret is in the arguments of pid %d: %q", pid, cmdline)
			}
		}
	}
	if err := lbCmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lbDone:
	case <-ctx.Done():
		t.Fatal("lb did not exit after SIGTERM")
	}
	if code := lbCmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("lb exit code %d after SIGTERM", code)
	}
	for _, pid := range pids {
		if !deadOrZombie(pid) {
			t.Errorf("gateway child %d survived the lb", pid)
		}
	}
	if !strings.Contains(lbOut.String(), "lb listening") {
		t.Errorf("lb output lacks its listening line:\n%s", lbOut.String())
	}
	for _, s := range []string{testAdminToken, testInstanceToken, assertionKey, password} {
		if strings.Contains(lbOut.String(), s) {
			t.Errorf("a secret appears in the lb's output:\n%s", lbOut.String())
		}
	}
}
