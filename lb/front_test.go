package lb

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// testFront is a plain TCP forwarder standing in for a fault-injecting
// proxy: it counts the connections it forwards and records its closing.
type testFront struct {
	ln       net.Listener
	upstream string
	conns    atomic.Int64
	closed   atomic.Bool
	mu       sync.Mutex
	open     []net.Conn
}

func startTestFront(upstream string) (*testFront, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &testFront{ln: ln, upstream: upstream}
	go f.serve()
	return f, nil
}

func (f *testFront) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.conns.Add(1)
		go f.forward(c)
	}
}

func (f *testFront) forward(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", f.upstream)
	if err != nil {
		return
	}
	defer up.Close()
	f.mu.Lock()
	f.open = append(f.open, c, up)
	f.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func (f *testFront) Addr() string   { return f.ln.Addr().String() }
func (f *testFront) String() string { return "test front → " + f.upstream }

func (f *testFront) Close() error {
	f.closed.Store(true)
	err := f.ln.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.open {
		_ = c.Close()
	}
	return err
}

// frontRecorder is a FrontFunc that keeps every front it started.
type frontRecorder struct {
	mu     sync.Mutex
	fronts map[string]*testFront // by front address
	ids    map[string]string     // front address → instance id
}

func newFrontRecorder() *frontRecorder {
	return &frontRecorder{fronts: map[string]*testFront{}, ids: map[string]string{}}
}

func (r *frontRecorder) start(_ context.Context, id, addr string) (Front, error) {
	f, err := startTestFront(addr)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fronts[f.Addr()], r.ids[f.Addr()] = f, id
	return f, nil
}

func (r *frontRecorder) get(addr string) (*testFront, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fronts[addr], r.ids[addr]
}

// TestFrontStandsBeforeEveryChild: with a FrontFunc, the lb routes every
// child's requests and health checks to its own front, which forwards to
// the child's own address; the admin address stays the child's.
func TestFrontStandsBeforeEveryChild(t *testing.T) {
	rec := newFrontRecorder()
	cfg := baseConfig(2)
	cfg.Front = rec.start
	h := startLB(t, cfg)
	insts := h.instances()
	for _, id := range []string{"gw1", "gw2"} {
		in := insts[id]
		f, fid := rec.get(in.Address)
		if f == nil || fid != id {
			t.Fatalf("%s: address %s is not a front started for it (fronts: %v)", id, in.Address, rec.ids)
		}
		if in.ListenAddress == "" || in.ListenAddress == in.Address || f.upstream != in.ListenAddress {
			t.Errorf("%s: listen address %q, front → %q, address %q: want the front before the child's own address", id, in.ListenAddress, f.upstream, in.Address)
		}
		if in.Front != f.String() {
			t.Errorf("%s: front described as %q, want %q", id, in.Front, f.String())
		}
		if f.conns.Load() == 0 {
			t.Errorf("%s: its start-up health check did not go through the front", id)
		}
	}
	seen := map[string]bool{}
	for range 4 {
		resp, _, err := h.get("/x")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("GET /x: %d", resp.StatusCode)
		}
		seen[resp.Header.Get(InstanceHeader)] = true
	}
	if !seen["gw1"] || !seen["gw2"] {
		t.Errorf("instances that answered through their fronts: %v, want gw1 and gw2", seen)
	}
}

// TestFrontFollowsRevive: a child revived on its own ports keeps its
// front; one moved to fresh ports gets a new front before them, and the
// old one is closed. Either way it is reachable through a front.
func TestFrontFollowsRevive(t *testing.T) {
	rec := newFrontRecorder()
	cfg := baseConfig(2)
	cfg.Front = rec.start
	h := startLB(t, cfg)
	first := h.instances()["gw1"]

	h.mustAdmin("POST", "/_lb/instances/gw1/kill?mode=sigkill", 200)
	var same InstanceInfo
	if err := json.Unmarshal(h.mustAdmin("POST", "/_lb/instances/gw1/revive", 200), &same); err != nil {
		t.Fatal(err)
	}
	if same.Address != first.Address || same.ListenAddress != first.ListenAddress {
		t.Fatalf("revived on its own ports: %s → %s, want the same front %s → %s", same.Address, same.ListenAddress, first.Address, first.ListenAddress)
	}
	h.waitState("gw1", StateUp)
	getFrom(t, h, "gw1")

	h.mustAdmin("POST", "/_lb/instances/gw1/kill?mode=sigkill", 200)
	thief, err := net.Listen("tcp", first.ListenAddress)
	if err != nil {
		t.Fatalf("take gw1's port: %v", err)
	}
	defer thief.Close()
	var moved InstanceInfo
	if err := json.Unmarshal(h.mustAdmin("POST", "/_lb/instances/gw1/revive", 200), &moved); err != nil {
		t.Fatal(err)
	}
	f, id := rec.get(moved.Address)
	switch {
	case moved.ListenAddress == first.ListenAddress || moved.Address == first.Address:
		t.Fatalf("revived %+v, want fresh ports and a fresh front (old %s is taken)", moved, first.ListenAddress)
	case f == nil || id != "gw1" || f.upstream != moved.ListenAddress:
		t.Fatalf("gw1 moved to %s → %s, not a front started for it before its new port", moved.Address, moved.ListenAddress)
	}
	if old, _ := rec.get(first.Address); !old.closed.Load() {
		t.Error("the front before gw1's old ports was not closed")
	}
	h.waitState("gw1", StateUp)
	getFrom(t, h, "gw1")
	h.stop()
	if !f.closed.Load() {
		t.Error("the lb's Close left gw1's front open")
	}
}

// getFrom sends requests through the lb until instance id answers one
// (round-robin over few instances: within a few).
func getFrom(t *testing.T, h *harness, id string) {
	t.Helper()
	for range 8 {
		resp, _, err := h.get("/x")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 200 && resp.Header.Get(InstanceHeader) == id {
			return
		}
	}
	t.Fatalf("%s answered none of 8 requests", id)
}

// TestFrontRefusedBeforeExternals: the lb does not choose an external
// instance's address, so it cannot front it.
func TestFrontRefusedBeforeExternals(t *testing.T) {
	cfg := baseConfig(0)
	cfg.External = []External{{Addr: "127.0.0.1:9"}}
	cfg.Front = newFrontRecorder().start
	_, err := New(cfg)
	if err == nil || !errors.Is(err, errFrontExternal) || !strings.Contains(err.Error(), "child instances") {
		t.Fatalf("New with a front and an external instance: %v, want %v", err, errFrontExternal)
	}
}
