package lb

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// startHTTPExternals starts n in-process instances (httptest servers
// answering /healthz as ext-a, ext-b, …) and returns them as externals.
func startHTTPExternals(t *testing.T, n int) ([]External, []*httptest.Server) {
	t.Helper()
	exts := make([]External, n)
	srvs := make([]*httptest.Server, n)
	for i := range n {
		id := "ext-" + string(rune('a'+i))
		srvs[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(InstanceHeader, id)
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "instance": id})
		}))
		t.Cleanup(srvs[i].Close)
		exts[i] = External{Addr: strings.TrimPrefix(srvs[i].URL, "http://")}
	}
	return exts, srvs
}

// TestFailedRetriesAnswerWithoutPin: a new sticky client whose request
// every instance refuses gets the lb's 502 after one retry, both instances
// are marked down by passive detection, and the answer pins the client to
// none of them (the selector had set a pin cookie for each try).
func TestFailedRetriesAnswerWithoutPin(t *testing.T) {
	exts, srvs := startHTTPExternals(t, 2)
	cfg := baseConfig(0)
	cfg.External = exts
	cfg.Policy = Sticky
	cfg.Retry = true
	cfg.HealthInterval = time.Hour // only passive detection can notice
	h := startLB(t, cfg)
	for _, s := range srvs {
		s.Close() // connections refused from now on
	}
	resp, body, err := h.get("/x")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "refused") {
		t.Fatalf("status %d %s, want 502 saying the instance refused", resp.StatusCode, body)
	}
	if c := pinCookie(resp); c != nil {
		t.Errorf("the 502 pins the client: %v", c)
	}
	if n := h.lb.retries.Load(); n != 1 {
		t.Errorf("%d retries, want 1 (the second instance, then none left)", n)
	}
	for id, in := range h.instances() {
		if in.State != StateDown {
			t.Errorf("%s is %s, want down by passive detection", id, in.State)
		}
	}
}

// TestProxyRefusalIsNotRetried: a request the proxy refuses before any
// round trip (an Upgrade header it cannot forward) is answered 502 at once:
// not retried, and no instance is blamed for it.
func TestProxyRefusalIsNotRetried(t *testing.T) {
	exts, _ := startHTTPExternals(t, 2)
	cfg := baseConfig(0)
	cfg.External = exts
	cfg.Retry = true
	cfg.HealthInterval = time.Hour
	h := startLB(t, cfg)
	req, _ := http.NewRequest(http.MethodGet, h.base+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "proto\xff")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d %s, want 502", resp.StatusCode, body)
	}
	if n := h.lb.retries.Load(); n != 0 {
		t.Errorf("%d retries, want none", n)
	}
	for id, in := range h.instances() {
		if in.State != StateUp {
			t.Errorf("%s is %s, want up", id, in.State)
		}
	}
}
