package lb

import (
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

// TestIgnoreExitsLearnsFromRequests: with IgnoreExits, a child killed from
// outside stays in rotation until a request to it fails; that request's
// 502 names the dead instance, the lb counts it as a failed try at it, and
// the instance goes down with a passive reason, not "exit".
func TestIgnoreExitsLearnsFromRequests(t *testing.T) {
	cfg := passiveConfig(2)
	cfg.IgnoreExits = true
	h := startLB(t, cfg)
	gw1 := h.instances()["gw1"]
	if err := syscall.Kill(gw1.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the exit event", func() bool {
		_, ok := findEvent(h.events(), EventExit, "gw1", 0)
		return ok
	})
	if got := h.instances()["gw1"]; !got.Healthy {
		t.Fatalf("gw1 left rotation on its exit despite IgnoreExits: %+v", got)
	}
	var failed int
	for range 4 {
		resp, _, err := h.get("/x")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusBadGateway {
			failed++
			if who := resp.Header.Get(InstanceHeader); who != "gw1" {
				t.Errorf("502 names instance %q, want gw1", who)
			}
		}
	}
	if failed != 1 {
		t.Errorf("%d requests failed, want exactly 1 (the one that detected the crash)", failed)
	}
	got := h.instances()["gw1"]
	if got.Healthy || got.Failed != 1 {
		t.Errorf("gw1 after the failed request: %+v, want down with 1 failed try", got)
	}
	down, ok := findEvent(h.events(), EventDown, "gw1", 0)
	if !ok || !strings.HasPrefix(down.Reason, "passive") {
		t.Errorf("down event %+v (found %v), want a passive detection", down, ok)
	}
}

// TestRetrySwitch: POST /_lb/retry switches retries at run time: a request
// to a crashed instance fails without retry and is served by another
// instance with it, and the lb counts the failed try either way.
func TestRetrySwitch(t *testing.T) {
	cfg := passiveConfig(2)
	cfg.IgnoreExits = true
	h := startLB(t, cfg)
	retry := func(method, path string) bool {
		var v struct {
			Retry bool `json:"retry"`
		}
		if err := json.Unmarshal(h.mustAdmin(method, path, 200), &v); err != nil {
			t.Fatal(err)
		}
		return v.Retry
	}
	if retry("GET", "/_lb/retry") {
		t.Fatal("retry on, want the configured off")
	}
	if !retry("POST", "/_lb/retry?enabled=true") || !h.lb.RetryEnabled() {
		t.Fatal("retry not switched on")
	}
	if code, _ := h.admin("POST", "/_lb/retry?enabled=maybe"); code != http.StatusBadRequest {
		t.Errorf("enabled=maybe: status %d, want 400", code)
	}
	if _, ok := findEvent(h.events(), EventRetry, "", 0); !ok {
		t.Error("no retry event")
	}
	gw1 := h.instances()["gw1"]
	if err := syscall.Kill(gw1.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitFor("gw1's exit", func() bool { return h.instances()["gw1"].PID == 0 })
	for range 4 {
		resp, _, err := h.get("/x")
		if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get(InstanceHeader) != "gw2" {
			t.Fatalf("with retry: %v %v", err, resp)
		}
	}
	if got := h.instances()["gw1"]; got.Failed != 1 || got.Healthy {
		t.Errorf("gw1: %+v, want down after 1 failed (retried) try", got)
	}
}
