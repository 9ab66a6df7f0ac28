package lb

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkProxy measures one proxied GET over real loopback connections
// (client → lb → instance), per policy.
func BenchmarkProxy(b *testing.B) {
	for _, tc := range []struct {
		policy  Policy
		slow    bool // DisableFastPath
		netHTTP bool // DisableFastServe
	}{{RoundRobin, false, false}, {RoundRobin, false, true}, {RoundRobin, true, true}, {LeastConn, false, false},
		{Sticky, false, false}, {Sticky, false, true}, {Sticky, true, true}} {
		policy, name := tc.policy, string(tc.policy)
		if tc.netHTTP {
			name += "-nethttp"
		}
		if tc.slow {
			name += "-reverseproxy"
		}
		b.Run(name, func(b *testing.B) {
			backends := make([]External, 3)
			for i := range backends {
				id := string(rune('a' + i))
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set(InstanceHeader, id)
					w.Header().Set("Content-Type", "application/json")
					_, _ = io.WriteString(w, `{"status":"ok","instance":"`+id+`"}`)
				}))
				b.Cleanup(srv.Close)
				backends[i] = External{Addr: strings.TrimPrefix(srv.URL, "http://")}
			}
			cfg := Config{External: backends, Policy: policy, AdminToken: testAdminToken, DisableFastPath: tc.slow, DisableFastServe: tc.netHTTP,
				CookieKey: []byte("bench-cookie-key-0123456789"),
				Logger:    slog.New(slog.NewTextHandler(io.Discard, nil))}
			l, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := l.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go func() { _ = l.Serve(ctx, ln) }()
			url := "http://" + ln.Addr().String() + "/healthz"
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Get(url)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}

// cannedTransport answers every request at once with a small JSON body,
// without a network: BenchmarkServeHTTP measures the lb's own work.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	const body = `{"status":"ok"}`
	return &http.Response{
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}, InstanceHeader: {"gw"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// discardWriter is a ResponseWriter that keeps nothing but its header map.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkServeHTTP measures the lb's handler alone (no sockets: the
// instances answer through cannedTransport), per policy; sticky-pinned
// carries a valid pin cookie, sticky-new none.
func BenchmarkServeHTTP(b *testing.B) {
	for _, tc := range []struct {
		name   string
		policy Policy
		pinned bool
	}{
		{"round-robin", RoundRobin, false},
		{"least-conn", LeastConn, false},
		{"sticky-pinned", Sticky, true},
		{"sticky-new", Sticky, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l := startBenchLB(b, tc.policy)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://lb/api/me", nil)
			req.Header.Set("Authorization", "Bearer token")
			if tc.pinned {
				w := &discardWriter{h: http.Header{}}
				l.ServeHTTP(w, req.Clone(ctx))
				c, err := http.ParseSetCookie(w.h.Get("Set-Cookie"))
				if err != nil {
					b.Fatalf("no pin cookie: %v", err)
				}
				req.AddCookie(c)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				delete(req.Header, "X-Request-Id") // the lb makes one, as for most clients
				w := &discardWriter{h: make(http.Header, 4)}
				l.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}

// startBenchLB starts an lb with policy over three external instances
// (httptest servers, for the start-up health checks) and then points its
// proxying at cannedTransport.
func startBenchLB(b *testing.B, policy Policy) *LB {
	b.Helper()
	backends := make([]External, 3)
	for i := range backends {
		id := string(rune('a' + i))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"status":"ok","instance":"`+id+`"}`)
		}))
		b.Cleanup(srv.Close)
		backends[i] = External{Addr: strings.TrimPrefix(srv.URL, "http://")}
	}
	l, err := New(Config{External: backends, Policy: policy, AdminToken: testAdminToken,
		CookieKey: []byte("bench-cookie-key-0123456789"), HealthInterval: time.Hour,
		DisableFastPath: true, // the instances answer through cannedTransport
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	if err := l.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.Close)
	for _, in := range l.insts {
		in.proxy.Transport = cannedTransport{}
	}
	return l
}
