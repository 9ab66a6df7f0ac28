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
)

// BenchmarkProxy measures one proxied GET over real loopback connections
// (client → lb → instance), per policy.
func BenchmarkProxy(b *testing.B) {
	for _, policy := range []Policy{RoundRobin, LeastConn, Sticky} {
		b.Run(string(policy), func(b *testing.B) {
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
			cfg := Config{External: backends, Policy: policy, AdminToken: testAdminToken,
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
