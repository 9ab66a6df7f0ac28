package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/netem"
	"github.com/authlab/authlab/lb"
)

// TestLBFrontApply: --upstream-latency/--upstream-jitter set the lb's
// Front only when one of them is non-zero.
func TestLBFrontApply(t *testing.T) {
	tests := []struct {
		name      string
		front     lbFront
		wantFront bool
	}{
		{"none", lbFront{}, false},
		{"latency", lbFront{latency: 2 * time.Millisecond}, true},
		{"jitter alone", lbFront{jitter: 200 * time.Microsecond}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg lb.Config
			if err := tt.front.apply(&cfg); err != nil {
				t.Fatal(err)
			}
			if (cfg.Front != nil) != tt.wantFront {
				t.Errorf("front set: %v, want %v", cfg.Front != nil, tt.wantFront)
			}
		})
	}
}

// TestNetemFront: the front the lb gets is a netem proxy before the
// child's address with the configured latency toxic installed, and a
// request goes through it.
func TestNetemFront(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	upstream := strings.TrimPrefix(srv.URL, "http://")
	f, err := netemFront(20*time.Millisecond, time.Millisecond)(context.Background(), "gw1", upstream)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, ok := f.(*netem.Proxy)
	if !ok {
		t.Fatalf("front is %T, want *netem.Proxy", f)
	}
	if rtt, jitter := p.Latency(); rtt != 20*time.Millisecond || jitter != time.Millisecond || p.Upstream() != upstream {
		t.Errorf("proxy → %s with %s ± %s, want → %s with 20ms ± 1ms", p.Upstream(), rtt, jitter, upstream)
	}
	if _, _, err := net.SplitHostPort(f.Addr()); err != nil || f.Addr() == upstream {
		t.Errorf("front address %q: want its own host:port", f.Addr())
	}
	resp, err := http.Get("http://" + f.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Errorf("through the front: %q, want ok", body)
	}
}
