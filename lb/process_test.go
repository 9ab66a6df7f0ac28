package lb

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/proc"
)

// TestCloseEndsARevive: a revive waiting for a child that never becomes
// ready (it answers as another instance) ends when the lb stops: the
// revive answers 503, Close waits for it, and the child is gone (its port
// free) once Close returns, though StartupTimeout is an hour away.
func TestCloseEndsARevive(t *testing.T) {
	cfg := passiveConfig(1)
	cfg.StartupTimeout = time.Hour
	var impostor atomic.Bool
	started := make(chan string, 8)
	cfg.Command = func(c Child) proc.Spec {
		if impostor.Load() {
			started <- c.Addr
			return fakeSpec(c.Addr, c.AdminAddr, "impostor")
		}
		return fakeCommand(c)
	}
	h := startLB(t, cfg)
	h.mustAdmin("POST", "/_lb/instances/gw1/kill", 200)
	impostor.Store(true)
	revived := make(chan int, 1)
	go func() {
		code, _ := h.admin("POST", "/_lb/instances/gw1/revive")
		revived <- code
	}()
	var addr string
	select {
	case addr = <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the revive started no process")
	}
	h.waitFor("the impostor to answer", func() bool {
		resp, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	stopped := make(chan struct{})
	go func() {
		h.stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("Close still waits for the revive")
	}
	if code := <-revived; code != http.StatusServiceUnavailable {
		t.Errorf("revive answered %d, want 503 (lb stopping)", code)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the impostor still holds %s after Close: %v", addr, err)
	}
	ln.Close()
}
