package lb

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/proc"
)

// The test binary doubles as a tiny fake gateway: with fakeEnv=1 it serves
// the endpoints the lb relies on instead of running the tests.
const (
	fakeEnv           = "AUTHLAB_LB_FAKE_GATEWAY"
	fakeTokenEnv      = "AUTHLAB_LB_FAKE_TOKEN"
	testAdminToken    = "lb-test-admin-token-0123456789"
	testInstanceToken = "lb-test-instance-token-0123456789"
	lbProcEnv         = "AUTHLAB_LB_TEST_PROCESS"
)

// lbProcess runs a load balancer over two fake children in this process,
// prints their pids as one JSON line and runs until SIGTERM/SIGINT.
func lbProcess() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg := baseConfig(2)
	l, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := l.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var pids []int
	for _, in := range l.Instances() {
		pids = append(pids, in.PID)
	}
	_ = json.NewEncoder(os.Stdout).Encode(pids)
	<-ctx.Done()
	l.Close()
	return 0
}

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) == "1" {
		os.Exit(fakeGateway(os.Args[1:]))
	}
	if os.Getenv(lbProcEnv) == "1" {
		os.Exit(lbProcess())
	}
	os.Exit(m.Run())
}

// fakeCommand is a CommandFunc running the fake gateway.
func fakeCommand(c Child) proc.Spec {
	return fakeSpec(c.Addr, c.AdminAddr, c.ID)
}

// fakeSpec runs the fake gateway on addr (and adminAddr unless empty).
func fakeSpec(addr, adminAddr, id string) proc.Spec {
	return proc.Spec{
		Path: os.Args[0],
		Args: []string{"--listen", addr, "--admin-listen", adminAddr, "--instance-id", id},
		// GORACE: a race-enabled binary otherwise sleeps 1 s at exit.
		Env: append(os.Environ(), fakeEnv+"=1", fakeTokenEnv+"="+testInstanceToken,
			"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")),
	}
}

// fakeCmd runs the fake gateway on addr (and adminAddr unless empty) as a
// process the lb does not own.
func fakeCmd(addr, adminAddr, id string) *exec.Cmd {
	spec := fakeSpec(addr, adminAddr, id)
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	return cmd
}

// fakeGateway serves, on --listen:
//
//	GET  /healthz            {"status":"ok","instance":ID}
//	GET  /slow?ms=N          answers after N ms
//	GET  /hold?key=K         answers once /release?key=K was called
//	GET  /release?key=K
//	GET  /stream?key=K       sends "first\n" at once, the rest once released
//	*    /_admin/*, /metrics {"leaked":true}: an instance that wrongly serves
//	                         its admin plane on its data port
//	*    anything else       {"instance":ID,"method":M,"body_len":N,"request_id":R}
//
// and on --admin-listen (when not empty):
//
//	GET  /healthz            {"status":"ok","instance":ID}
//	POST /_admin/exit        202, then exits at once (bearer token)
//
// It sets X-Authlab-Instance on every response and echoes X-Request-Id.
// SIGTERM shuts it down gracefully; it exits 1 when a port is taken.
func fakeGateway(args []string) int {
	fs := flag.NewFlagSet("fake", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "")
	adminListen := fs.String("admin-listen", "", "")
	id := fs.String("instance-id", "fake", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	token := os.Getenv(fakeTokenEnv)
	var mu sync.Mutex
	holds := map[string]chan struct{}{}
	hold := func(key string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		ch, ok := holds[key]
		if !ok {
			ch = make(chan struct{})
			holds[key] = ch
		}
		return ch
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"status": "ok", "instance": *id})
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		writeJSON(w, 200, map[string]string{"instance": *id})
	})
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hold(r.URL.Query().Get("key")):
		case <-r.Context().Done():
		}
		writeJSON(w, 200, map[string]string{"instance": *id, "held": "released"})
	})
	mux.HandleFunc("/release", func(w http.ResponseWriter, r *http.Request) {
		close(hold(r.URL.Query().Get("key")))
		writeJSON(w, 200, map[string]string{"instance": *id})
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-hold(r.URL.Query().Get("key")):
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "rest\n")
	})
	leaked := func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]bool{"leaked": true})
	}
	mux.HandleFunc("/_admin/", leaked)
	mux.HandleFunc("/_lb/", leaked)
	mux.HandleFunc("/metrics", leaked)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		writeJSON(w, 200, map[string]any{"instance": *id, "method": r.Method, "body_len": n,
			"request_id": r.Header.Get("X-Request-Id")})
	})
	admin := http.NewServeMux()
	admin.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"status": "ok", "instance": *id})
	})
	admin.HandleFunc("POST /_admin/exit", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			writeJSON(w, 401, map[string]string{"error": "unauthorized"})
			return
		}
		writeJSON(w, 202, map[string]string{"status": "exiting"})
		w.(http.Flusher).Flush()
		os.Exit(0)
	})
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(InstanceHeader, *id)
			if v := r.Header.Get("X-Request-Id"); v != "" {
				w.Header().Set("X-Request-Id", v)
			}
			h.ServeHTTP(w, r)
		})
	}
	var lns []net.Listener
	for _, a := range []string{*listen, *adminListen} {
		if a == "" {
			continue
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake gateway:", err)
			return 1
		}
		lns = append(lns, ln)
	}
	srvs := []*http.Server{{Handler: wrap(mux)}, {Handler: wrap(admin)}}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, len(lns))
	for i, ln := range lns {
		go func() { errc <- srvs[i].Serve(ln) }()
	}
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "fake gateway:", err)
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, srv := range srvs {
		_ = srv.Shutdown(sctx)
	}
	return 0
}

// startFakeExternal starts a fake gateway the lb does not own, on addr and
// (unless empty) adminAddr, and returns its process and a channel closed
// when it has exited.
func startFakeExternal(t *testing.T, addr, adminAddr, id string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := fakeCmd(addr, adminAddr, id)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return cmd, done
}
