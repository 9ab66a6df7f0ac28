package topology

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newTestGroup(t *testing.T) (*Group, string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(fakeProcEnv, "1")
	t.Setenv(fakeLogEnv, filepath.Join(dir, "starts.jsonl"))
	t.Setenv(fakeMarkerEnv, filepath.Join(dir, "marker"))
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	g, err := NewGroup(GroupConfig{Exe: os.Args[0], Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	return g, filepath.Join(dir, "starts.jsonl")
}

// TestGroupStartFailsWhenAnotherChildExits: a child that dies while
// another one starts fails that start at once, naming the dead one,
// instead of letting it wait out its ready timeout.
func TestGroupStartFailsWhenAnotherChildExits(t *testing.T) {
	g, _ := newTestGroup(t)
	args := func(a []string) []string { return []string{"exit-on-marker", "--listen", a[0]} }
	if _, _, err := g.Start(context.Background(), Service{Name: "first", Addrs: []string{""}, Args: args}); err != nil {
		t.Fatal(err)
	}
	_, _, err := g.Start(context.Background(), Service{Name: "second", Addrs: []string{""}, ReadyTimeout: time.Minute,
		Args: func(a []string) []string { return []string{"never-ready", "--listen", a[0]} }})
	if !errors.Is(err, errOtherExited) || !strings.Contains(err.Error(), "first") {
		t.Fatalf("start of second = %v, want it to fail because first exited", err)
	}
}

// TestGroupStartErrorQuotesTheChild: a child that exits before it is ready
// on an address it was given (not moved to another port) fails the start
// with its last output.
func TestGroupStartErrorQuotesTheChild(t *testing.T) {
	g, starts := newTestGroup(t)
	_, _, err := g.Start(context.Background(), Service{Name: "loud", Addrs: []string{"127.0.0.1:1"},
		Args: func(a []string) []string { return []string{"fail-loud", "--listen", a[0]} }})
	if err == nil || !strings.Contains(err.Error(), "boom: the widget is on fire") {
		t.Fatalf("start = %v, want the child's output in the error", err)
	}
	if n := len(readStarts(t, starts)); n != 1 {
		t.Errorf("started %d times, want once (its address was given, not reserved)", n)
	}
}

// TestStandaloneGatewaySecrets: a gateway started on its own gets the
// keys the backend and every other gateway share, and the instance admin
// token (never the lb's) as its admin token.
func TestStandaloneGatewaySecrets(t *testing.T) {
	g, starts := newTestGroup(t)
	ctx := context.Background()
	if _, err := g.StartBackend(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"gw1", "gw2"} {
		if _, _, err := g.StartGateway(ctx, id, Gateways{Strategy: "none", AuthURL: "http://a", BackendURL: "http://b"}); err != nil {
			t.Fatal(err)
		}
	}
	var backend fakeStart
	var gateways []fakeStart
	for _, s := range readStarts(t, starts) {
		switch s.Name {
		case "backend":
			backend = s
		case "gateway":
			gateways = append(gateways, s)
		}
	}
	if len(gateways) != 2 {
		t.Fatalf("started %d gateways, want 2", len(gateways))
	}
	sec := g.Secrets()
	for _, gw := range gateways {
		env := gw.Env
		if env["AUTHLAB_ADMIN_TOKEN"] != sec.InstanceAdminToken || env["AUTHLAB_ASSERTION_KEY"] != backend.Env["AUTHLAB_ASSERTION_KEY"] ||
			env["AUTHLAB_FINGERPRINT_KEY"] != sec.FingerprintKey {
			t.Errorf("gateway env %v: want the instance admin token and the shared keys", env)
		}
		if env["AUTHLAB_INSTANCE_ADMIN_TOKEN"] != "" || strings.Contains(strings.Join(gw.Args, " "), sec.AssertionKey) {
			t.Errorf("gateway %v got the lb's secrets or a secret in its arguments", gw.Args)
		}
	}
}

// TestLBIsLetFinishItsStop: an lb whose orderly stop takes longer than the
// 5 s every other child gets (it drains its whole --stop-timeout when a
// client holds a fresh connection, then exits) stops on SIGTERM instead of
// being SIGKILLed in the middle of it.
func TestLBIsLetFinishItsStop(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a 6 s stop")
	}
	g, _ := newTestGroup(t)
	t.Setenv(fakeStopDelayEnv, "6s")
	p, _, _, err := g.StartLB(context.Background(), LB{Policy: "round-robin", Instances: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Stop(context.Background()) {
		t.Fatal("the lb was SIGKILLed during its 6 s stop")
	}
}
