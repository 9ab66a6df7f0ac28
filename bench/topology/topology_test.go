package topology

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/proc"
	"github.com/authlab/authlab/lb"
)

// The test binary doubles as a fake authlab for the topology: with
// fakeProcEnv=1 it plays auth, backend or lb (by its first argument)
// instead of running the tests.
const (
	fakeProcEnv = "AUTHLAB_BENCH_FAKE_PROC"
	fakeLogEnv  = "AUTHLAB_BENCH_FAKE_LOG" // file of one JSON fakeStart per start
	// fakeMarkerEnv names a file: "never-ready" creates it, and
	// "exit-on-marker" exits once it exists.
	fakeMarkerEnv = "AUTHLAB_BENCH_FAKE_MARKER"
	// fakeStopDelayEnv is a duration: a fake "lb" takes that long to exit
	// after SIGTERM, like an lb draining a client's fresh connection.
	fakeStopDelayEnv = "AUTHLAB_BENCH_FAKE_STOP_DELAY"
)

func TestMain(m *testing.M) {
	if os.Getenv(fakeProcEnv) == "1" {
		os.Exit(fakeProc(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeStart is what a fake process recorded about its start.
type fakeStart struct {
	Name string            `json:"name"`
	PID  int               `json:"pid"`
	Args []string          `json:"args"`
	Env  map[string]string `json:"env"` // its AUTHLAB_* variables
}

// fakeProc serves /healthz on --listen; as "lb" also the admin API's
// GET /_lb/instances on --admin-listen (bearer $AUTHLAB_ADMIN_TOKEN),
// listing --instances gateways. It exits 1 when a port is taken. As
// "fail-loud" it prints a line and exits 1; as "never-ready" it creates
// the marker file and never listens; as "exit-on-marker" it serves until
// the marker file exists, then exits 3.
func fakeProc(args []string) int {
	if len(args) == 0 {
		return 2
	}
	rec := fakeStart{Name: args[0], PID: os.Getpid(), Args: args, Env: map[string]string{}}
	for _, e := range os.Environ() {
		if k, v, _ := strings.Cut(e, "="); strings.HasPrefix(k, "AUTHLAB_") {
			rec.Env[k] = v
		}
	}
	if b, err := json.Marshal(rec); err == nil {
		if f, err := os.OpenFile(os.Getenv(fakeLogEnv), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600); err == nil {
			_, _ = f.Write(append(b, '\n'))
			f.Close()
		}
	}
	switch marker := os.Getenv(fakeMarkerEnv); args[0] {
	case "fail-loud":
		fmt.Fprintln(os.Stderr, "boom: the widget is on fire")
		return 1
	case "never-ready":
		_ = os.WriteFile(marker, nil, 0o600)
		select {}
	case "exit-on-marker":
		go func() {
			for {
				if _, err := os.Stat(marker); err == nil {
					os.Exit(3)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	flagValue := func(name string) string {
		for i, a := range args {
			if a == "--" {
				break
			}
			if a == "--"+name && i+1 < len(args) {
				return args[i+1]
			}
		}
		return ""
	}
	healthz := func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, `{"status":"ok"}`) }
	data := http.NewServeMux()
	data.HandleFunc("GET /healthz", healthz)
	servers := map[string]http.Handler{flagValue("listen"): data}
	if args[0] == "lb" {
		if d, err := time.ParseDuration(os.Getenv(fakeStopDelayEnv)); err == nil {
			term := make(chan os.Signal, 1)
			signal.Notify(term, syscall.SIGTERM)
			go func() {
				<-term
				time.Sleep(d) // the orderly stop being imitated, not a synchronisation
				os.Exit(0)
			}()
		}
		n, _ := strconv.Atoi(flagValue("instances"))
		admin := http.NewServeMux()
		admin.HandleFunc("GET /healthz", healthz)
		admin.HandleFunc("GET /_lb/instances", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+os.Getenv("AUTHLAB_ADMIN_TOKEN") {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			var list []lb.InstanceInfo
			for i := range n {
				list = append(list, lb.InstanceInfo{ID: fmt.Sprintf("gw%d", i+1), Address: fmt.Sprintf("127.0.0.1:%d", 20000+i),
					AdminAddress: fmt.Sprintf("127.0.0.1:%d", 21000+i), State: "up"})
			}
			_ = json.NewEncoder(w).Encode(list)
		})
		servers[flagValue("admin-listen")] = admin
	}
	lns := map[net.Listener]http.Handler{}
	for addr, h := range servers {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake:", err)
			return 1
		}
		lns[ln] = h
	}
	errc := make(chan error, len(lns))
	for ln, h := range lns {
		go func() { errc <- http.Serve(ln, h) }()
	}
	fmt.Fprintln(os.Stderr, "fake:", <-errc)
	return 1
}

func readStarts(t *testing.T, path string) []fakeStart {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []fakeStart
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var s fakeStart
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("start record %q: %v", line, err)
		}
		out = append(out, s)
	}
	return out
}

// TestStartTopologyPortsAndSecrets starts the topology over fake children
// whose reserved ports are taken before they bind them (auth's, backend's
// and the lb's admin port, once each): each is started again on other
// ports. Secrets reach the children by environment only, each the ones it
// needs; the lb's admin token is not the gateways'.
func TestStartTopologyPortsAndSecrets(t *testing.T) {
	log := filepath.Join(t.TempDir(), "starts.jsonl")
	t.Setenv(fakeProcEnv, "1")
	t.Setenv(fakeLogEnv, log)
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	var (
		mu     sync.Mutex
		calls  int
		stolen []string
	)
	reserve := func() (string, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		// 1: auth; 3: backend (2 and 4 are their second tries); 5, 6: the
		// lb's data and admin ports.
		if calls != 1 && calls != 3 && calls != 6 {
			return proc.FreeLoopbackAddr()
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0") // another process won the race
		if err != nil {
			return "", err
		}
		t.Cleanup(func() { ln.Close() })
		stolen = append(stolen, ln.Addr().String())
		return ln.Addr().String(), nil
	}
	const redisURL = "redis://:redis-password-in-url@127.0.0.1:1/0"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topo, err := Start(ctx, Config{
		Exe: os.Args[0], Strategy: "jwt", Instances: 2, SeedUsers: 3, RedisURL: redisURL,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), reserve: reserve,
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer topo.Close()

	starts := readStarts(t, log)
	count := map[string]int{}
	byName := map[string]fakeStart{} // the last start of each
	for _, s := range starts {
		count[s.Name]++
		byName[s.Name] = s
	}
	if count["auth"] != 2 || count["backend"] != 2 || count["lb"] != 2 {
		t.Errorf("starts %v, want auth, backend and lb started twice each", count)
	}
	for _, u := range []string{topo.AuthURL, topo.BackendURL, topo.LBURL, topo.LBAdminURL} {
		if slices.Contains(stolen, strings.TrimPrefix(u, "http://")) {
			t.Errorf("%s is on a taken port", u)
		}
	}
	insts, err := topo.Instances(ctx)
	if err != nil || len(insts) != 2 || insts[0].AdminAddress == "" {
		t.Fatalf("Instances = %+v, %v: want 2 with admin addresses, from the lb's admin port", insts, err)
	}

	lb, auth, backend := byName["lb"].Env, byName["auth"].Env, byName["backend"].Env
	if topo.AdminToken == topo.InstanceAdminToken || lb["AUTHLAB_ADMIN_TOKEN"] != topo.AdminToken ||
		lb["AUTHLAB_INSTANCE_ADMIN_TOKEN"] != topo.InstanceAdminToken {
		t.Errorf("lb env %v: want its own admin token and the instances' (different) one", lb)
	}
	if auth["AUTHLAB_SEED_PASSWORD"] != topo.Password || auth["AUTHLAB_ADMIN_PASSWORD"] != topo.AdminPassword {
		t.Errorf("auth env %v lacks the passwords", auth)
	}
	if backend["AUTHLAB_ASSERTION_KEY"] == "" || backend["AUTHLAB_ASSERTION_KEY"] != lb["AUTHLAB_ASSERTION_KEY"] {
		t.Errorf("backend and lb (gateways) do not share the assertion key")
	}
	if lb["AUTHLAB_REDIS_URL"] != redisURL {
		t.Errorf("lb env AUTHLAB_REDIS_URL = %q", lb["AUTHLAB_REDIS_URL"])
	}
	for _, env := range []map[string]string{auth, backend} {
		for _, k := range []string{"AUTHLAB_ADMIN_TOKEN", "AUTHLAB_INSTANCE_ADMIN_TOKEN", "AUTHLAB_JWT_SECRET"} {
			if env[k] != "" {
				t.Errorf("%s handed to a service that does not need it", k)
			}
		}
	}
	secrets := []string{topo.AdminToken, topo.InstanceAdminToken, topo.Password, topo.AdminPassword,
		"redis-password-in-url", lb["AUTHLAB_ASSERTION_KEY"], lb["AUTHLAB_JWT_SECRET"], lb["AUTHLAB_COOKIE_KEY"]}
	for _, s := range starts {
		args := strings.Join(s.Args, " ")
		for _, sec := range secrets {
			if sec != "" && strings.Contains(args, sec) {
				t.Errorf("%s was started with a secret in its arguments: %s", s.Name, args)
			}
		}
	}

	if err := topo.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range starts {
		if proc.Alive(s.PID) {
			t.Errorf("%s (pid %d) survived Close", s.Name, s.PID)
		}
	}
}
