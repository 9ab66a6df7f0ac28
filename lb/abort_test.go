package lb

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestAbortOnDown: a request stuck on an instance that stops answering
// its health checks (a host gone without closing its connections) is cut
// short when the instance is marked down: with retry it is answered by
// the other instance, without it the lb's 502 names the instance. Without
// AbortOnDown it would wait out UpstreamTimeout (a minute here), longer
// than the client's patience.
func TestAbortOnDown(t *testing.T) {
	for _, tt := range []struct {
		name   string
		retry  bool
		fast   bool
		status int
		from   string
	}{
		{"fast path, retried elsewhere", true, true, http.StatusOK, "ext-b"},
		{"fast path, no retry", false, true, http.StatusBadGateway, "ext-a"},
		{"reverse proxy, retried elsewhere", true, false, http.StatusOK, "ext-b"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var sick, hit atomic.Bool
			arrived := make(chan struct{}, 1)
			release := make(chan struct{})
			defer close(release)
			stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(InstanceHeader, "ext-a")
				if r.URL.Path == "/healthz" {
					if sick.Load() {
						w.WriteHeader(http.StatusServiceUnavailable)
						return
					}
					writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "instance": "ext-a"})
					return
				}
				hit.Store(true)
				arrived <- struct{}{}
				select { // never answers while the test runs
				case <-release:
				case <-r.Context().Done():
				}
			}))
			defer stuck.Close()
			exts, _ := startHTTPExternals(t, 2)
			cfg := baseConfig(0)
			cfg.External = []External{{Addr: strings.TrimPrefix(stuck.URL, "http://")}, exts[1]}
			cfg.Retry, cfg.AbortOnDown, cfg.DisableFastPath = tt.retry, true, !tt.fast
			cfg.UpstreamTimeout = time.Minute
			h := startLB(t, cfg)

			type answer struct {
				status int
				from   string
				body   string
				err    error
			}
			done := make(chan answer, 1)
			go func() {
				// Round robin: until one of them lands on ext-a, requests
				// are answered by ext-b.
				for range 4 {
					resp, body, err := h.get("/api/slow")
					if err != nil {
						done <- answer{err: err}
						return
					}
					a := answer{status: resp.StatusCode, from: resp.Header.Get(InstanceHeader), body: string(body)}
					if a.from == "ext-b" && !hit.Load() {
						continue
					}
					done <- a
					return
				}
			}()
			select {
			case <-arrived:
			case <-time.After(10 * time.Second):
				t.Fatal("the request never reached the stuck instance")
			}
			sick.Store(true) // its health checks fail from now on
			select {
			case a := <-done:
				if a.err != nil || a.status != tt.status || a.from != tt.from {
					t.Fatalf("answer %d from %q (%v) %s; want %d from %s", a.status, a.from, a.err, a.body, tt.status, tt.from)
				}
				if tt.status == http.StatusBadGateway && !strings.Contains(a.body, "marked down") {
					t.Errorf("502 body %q does not say the instance was marked down", a.body)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the request stuck on the down instance was not cut short")
			}
		})
	}
}
