package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
)

// TestHeapEndpoint: GET /_admin/heap needs the admin token, answers the
// live heap as JSON, and leaves every other path to the admin plane.
func TestHeapEndpoint(t *testing.T) {
	const token = "heap-test-admin-token"
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	h := withHeapEndpoint(admin, token)
	do := func(method, path, auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, auth := range []string{"", "wrong"} {
		if rec := do("GET", heapPath, auth); rec.Code != http.StatusUnauthorized {
			t.Errorf("token %q: %d, want 401", auth, rec.Code)
		}
	}
	rec := do("GET", heapPath, token)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %q", heapPath, rec.Code, rec.Header().Get("Content-Type"))
	}
	var body map[string]int64
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	if body["heap_alloc_bytes"] <= 0 || body["heap_objects"] <= 0 || len(body) != 2 {
		t.Errorf("body = %v, want heap_alloc_bytes and heap_objects > 0", body)
	}
	// Memory kept reachable shows up in the next reading.
	var keep [][]byte
	for range 1024 {
		keep = append(keep, make([]byte, 1024))
	}
	defer runtime.KeepAlive(keep)
	var after map[string]int64
	_ = json.Unmarshal(do("GET", heapPath, token).Body.Bytes(), &after)
	if after["heap_alloc_bytes"] < body["heap_alloc_bytes"]+900*1024 {
		t.Errorf("heap %d → %d after keeping 1 MiB", body["heap_alloc_bytes"], after["heap_alloc_bytes"])
	}
	for _, tc := range []struct{ method, path string }{{"GET", "/_admin/stats"}, {"POST", heapPath}, {"GET", "/metrics"}} {
		if rec := do(tc.method, tc.path, token); rec.Code != http.StatusTeapot {
			t.Errorf("%s %s: %d, want the admin plane's answer", tc.method, tc.path, rec.Code)
		}
	}
}
