package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthcheck(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("/created", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	release := make(chan struct{})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/healthz"
	l.Close()

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"2xx", []string{srv.URL + "/ok"}, 0, "healthy"},
		{"204", []string{srv.URL + "/created"}, 0, "204"},
		{"503", []string{srv.URL + "/down"}, 1, "status 503"},
		{"404", []string{srv.URL + "/nope"}, 1, "status 404"},
		{"redirect not followed", []string{srv.URL + "/moved"}, 1, "status 302"},
		{"refused", []string{closed}, 1, "refused"},
		{"hangs past the timeout", []string{"--timeout", "200ms", srv.URL + "/hang"}, 1, "no answer within 200ms"},
		{"no url", nil, 1, "want exactly one URL"},
		{"two urls", []string{srv.URL + "/ok", srv.URL + "/ok"}, 1, "want exactly one URL"},
		{"not http", []string{"ftp://example.invalid/"}, 1, "want http://"},
		{"no host", []string{"http:///healthz"}, 1, "want http://"},
		{"bad timeout", []string{"--timeout", "0s", srv.URL + "/ok"}, 1, "must be positive"},
		{"password not echoed", []string{"http://u:hunter2@" + strings.TrimPrefix(closed, "http://")}, 1, "xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			start := time.Now()
			code := run(append([]string{"healthcheck"}, tt.args...), &out, &errb)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tt.wantCode, out.String(), errb.String())
			}
			all := out.String() + errb.String()
			if !strings.Contains(all, tt.wantOut) {
				t.Fatalf("output lacks %q: %q", tt.wantOut, all)
			}
			if strings.Contains(all, "hunter2") {
				t.Fatalf("output shows the URL's password: %q", all)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("took %v: the timeout does not bound the check", d)
			}
		})
	}
}
