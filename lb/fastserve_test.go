package lb

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// netHTTPServeEnv, set to 1, makes startLB serve with net/http's server
// alone (Config.DisableFastServe): the package's tests then run over it.
const netHTTPServeEnv = "AUTHLAB_LB_TEST_NET_HTTP_SERVE"

// TestSuitesOverNetHTTPServe runs the conformance, hardening and
// lifecycle tests again over net/http's server alone (this test binary,
// re-run with netHTTPServeEnv set): the fast serve loop, the default, must
// pass them exactly as net/http does.
func TestSuitesOverNetHTTPServe(t *testing.T) {
	if os.Getenv(netHTTPServeEnv) == "1" {
		t.Skip("already running over net/http's server")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	run := "^(TestForward|TestFastPath|TestDataPortServesNoAdminPlane|TestAdminPlane|TestRequestID|TestHeaderLimits|" +
		"TestSlowHeaderClientIsCutOff|TestClientAbortMidResponseReleasesInFlight|TestSlowBodyIsCutOff|" +
		"TestSlowResponseOutlivesReadTimeout|TestDrainLetsInFlightFinish|TestRoundRobinAndInstanceHeader|" +
		"TestStickyRepinsAtOnce|TestNoHealthyInstanceIs503|TestServerTiming|TestRetrySwitch|TestAbortOnDown|TestSIGKILLUnderLoad)"
	cmd := exec.Command(os.Args[0], "-test.run", run, "-test.count", "1", "-test.timeout", "5m")
	cmd.Env = append(os.Environ(), netHTTPServeEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("over net/http's server: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("PASS")) {
		t.Fatalf("over net/http's server: no PASS\n%s", out)
	}
}

// serveBoth serves h over net/http (l.serve) and over the fast loop
// (l.serveFast) and returns their addresses.
func serveBoth(t *testing.T, h http.Handler) (netHTTP, fast string) {
	t.Helper()
	cfg := Config{}
	cfg.setDefaults()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	l := &LB{cfg: cfg, log: cfg.Logger}
	ctx, cancel := context.WithCancel(context.Background())
	var lns [2]net.Listener
	errc := make(chan error, 2)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
	}
	go func() { errc <- l.serve(ctx, lns[0], h) }()
	go func() { errc <- l.serveFast(ctx, lns[1], h) }()
	t.Cleanup(func() {
		cancel()
		for range lns {
			if err := <-errc; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	})
	return lns[0].Addr().String(), lns[1].Addr().String()
}

var dateLine = regexp.MustCompile(`(?m)^Date: [^\r]*\r$`)

// rawExchange writes raw to addr and returns every byte answered until
// the connection closes, the Date values blanked.
func rawExchange(t *testing.T, addr, raw string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read: %v (after %q)", err, b)
	}
	return dateLine.ReplaceAllString(string(b), "Date: *\r")
}

// TestFastResponseFramesAsNetHTTP: for what a handler writes, the fast
// loop's ResponseWriter puts on the wire byte for byte what net/http's
// does (the Date aside).
func TestFastResponseFramesAsNetHTTP(t *testing.T) {
	handlers := map[string]http.HandlerFunc{
		"explicit length": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		},
		"small, no length": func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello world") },
		"typed": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "{}")
		},
		"sniffed html": func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "<html><body>x</body></html>") },
		"encoded, not sniffed": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			io.WriteString(w, "xx")
		},
		"large single write": func(w http.ResponseWriter, _ *http.Request) { w.Write(bytes.Repeat([]byte("a"), 5000)) },
		"many small writes": func(w http.ResponseWriter, _ *http.Request) {
			for range 10 {
				w.Write(bytes.Repeat([]byte("b"), 300))
			}
		},
		"flush then write": func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			io.WriteString(w, "b")
		},
		"controller flush": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_ = http.NewResponseController(w).Flush()
			io.WriteString(w, "data: 1\n\n")
		},
		"no write": func(http.ResponseWriter, *http.Request) {},
		"204": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "3")
			w.WriteHeader(204)
		},
		"304": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "x/y")
			w.WriteHeader(304)
		},
		"body on 204": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204); io.WriteString(w, "nope") },
		"1xx then 200": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(103)
			w.Header().Set("X-Final", "1")
			io.WriteString(w, "done")
		},
		"declared trailers": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Trailer", "X-Sum, Content-Length")
			w.WriteHeader(200)
			io.WriteString(w, "body")
			w.Header().Set("X-Sum", "abc")
		},
		"prefixed trailer": func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "body")
			w.(http.Flusher).Flush()
			w.Header().Set(http.TrailerPrefix+"X-Late", "late")
		},
		"handler asks close": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		},
		"header changed after WriteHeader": func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			w.WriteHeader(201)
			h.Set("X-Late", "1")
			io.WriteString(w, "x")
		},
		"Header called after WriteHeader": func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(202)
			w.Header().Set("X-Late", "1")
			io.WriteString(w, "x")
		},
		"short of its length": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "12345")
		},
		"beyond its length": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "2")
			if _, err := io.WriteString(w, "12345"); !errors.Is(err, http.ErrContentLength) {
				panic(err)
			}
			io.WriteString(w, "12")
		},
		"bad length": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "x")
			io.WriteString(w, "abc")
		},
		"identity": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Transfer-Encoding", "identity")
			io.WriteString(w, "abc")
		},
		"chunked asked": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Transfer-Encoding", "chunked")
			io.WriteString(w, "abc")
		},
		"superfluous header": func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(200)
			w.WriteHeader(500)
			io.WriteString(w, "x")
		},
		"unknown status": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(599); io.WriteString(w, "x") },
		"abort after flush": func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			io.WriteString(w, "buffered")
			panic(http.ErrAbortHandler)
		},
		"request echo": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s %q %q %v %q %v %d %v", r.Method, r.URL, r.Host, r.RequestURI, r.Close, r.Proto, r.Header, r.ContentLength, r.Body == http.NoBody)
		},
	}
	mux := http.NewServeMux()
	for name, h := range handlers {
		mux.Handle("/"+strings.ReplaceAll(name, " ", "-"), h)
	}
	std, fast := serveBoth(t, mux)
	for name := range handlers {
		p := "/" + strings.ReplaceAll(name, " ", "-")
		for _, raw := range []string{
			"GET " + p + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"HEAD " + p + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"GET " + p + "?q=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\nGET " + p + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"GET " + p + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nCookie: a=1\r\ncookie: b=2\r\n\r\nHEAD " + p + " HTTP/1.1\r\nHost: x\r\n\r\nGET " + p + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		} {
			t.Run(name, func(t *testing.T) {
				want, got := rawExchange(t, std, raw), rawExchange(t, fast, raw)
				if !strings.HasPrefix(want, "HTTP/1.1 ") {
					t.Fatalf("net/http answered %q", want)
				}
				if got != want {
					t.Errorf("request %q:\nnet/http: %q\nfast:     %q", raw, want, got)
				}
			})
		}
	}
}

// TestFastServeMatchesNetHTTP runs the forwarding conformance cases
// through two load balancers, net/http's server and the fast loop (both
// with the fast path): same answers, same requests at the instance.
func TestFastServeMatchesNetHTTP(t *testing.T) {
	if os.Getenv(netHTTPServeEnv) == "1" {
		t.Skip("startLB serves both over net/http's server here")
	}
	up := newConformanceUpstream(t)
	cfg := func(fast bool) Config {
		return Config{External: []External{{Addr: up.addr()}}, Policy: RoundRobin, AdminToken: testAdminToken,
			HealthInterval: time.Hour, DisableFastServe: !fast, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	}
	p := &conformancePair{up: up, fast: startLB(t, cfg(true)), slow: startLB(t, cfg(false))}
	for _, tc := range forwardConformanceCases() {
		t.Run(tc.name, func(t *testing.T) {
			var results [2][]rawResponse
			var gots [2]received
			var oks [2]bool
			for i, h := range []*harness{p.fast, p.slow} {
				key := fmt.Sprintf("fs/%s/%d", tc.name, i)
				raw := strings.ReplaceAll(tc.raw, "KEY", key)
				results[i] = exchange(t, strings.TrimPrefix(h.base, "http://"), raw)
				gots[i], oks[i] = up.lookup(key)
				tc.check(t, results[i], gots[i], oks[i])
			}
			if !sameAnswers(results[0], results[1]) {
				t.Errorf("answers differ:\nfast serve: %+v\nnet/http:   %+v", results[0], results[1])
			}
			if oks[0] != oks[1] || !sameReceived(gots[0], gots[1]) {
				t.Errorf("the instance got different requests:\nfast serve: %v %+v\nnet/http:   %v %+v", oks[0], gots[0], oks[1], gots[1])
			}
		})
	}
}

// TestFastServeGracefulShutdown: ending Serve's ctx lets the request in
// flight finish (answered with Connection: close), closes idle
// connections, and Serve returns nil.
func TestFastServeGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "ok")
	})
	cfg := Config{}
	cfg.setDefaults()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	l := &LB{cfg: cfg, log: cfg.Logger}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- l.serveFast(ctx, ln, h) }()
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
	ibr := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(ibr, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first answer %v %v", resp, err)
	} else if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	cancel()
	// The idle connection is closed.
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := ibr.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: %v, want it closed (EOF)", err)
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil || resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("in-flight answer %+v %v, want 200 with Connection: close", resp, err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// TestFastServeClientAbortCancels: a client that leaves while its request
// waits in the handler has the request's context cancelled, by net/http
// at once (its background read), by the fast loop's peek sweep within a
// few sweeps; the test logs both delays.
func TestFastServeClientAbortCancels(t *testing.T) {
	type run struct{ entered, cancelled chan struct{} }
	runs := map[string]*run{}
	for _, k := range []string{"net/http", "fast"} {
		runs[k] = &run{make(chan struct{}), make(chan struct{})}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rn := runs[r.Header.Get("X-Run")]
		close(rn.entered)
		select {
		case <-r.Context().Done():
			close(rn.cancelled)
		case <-time.After(10 * time.Second):
		}
	})
	std, fast := serveBoth(t, h)
	for k, addr := range map[string]string{"net/http": std, "fast": fast} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Run: "+k+"\r\n\r\n")
		<-runs[k].entered
		start := time.Now()
		conn.Close()
		select {
		case <-runs[k].cancelled:
			// How soon is reported, not asserted (about 2×fastServeReap for
			// the fast loop; a loaded machine may take longer): the test
			// asserts that the cancel comes, well before the handler's 10 s.
			t.Logf("%s: request cancelled %v after the client closed", k, time.Since(start))
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: request not cancelled after the client left", k)
		}
	}
}

// FuzzParseRequestHead: whatever the strict parser takes, http.ReadRequest
// and net/http's server checks take too, as the same request.
func FuzzParseRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /a/b?c=d&e HTTP/1.1\r\nHost: example.test:80\r\nUser-Agent: t\r\nConnection: close\r\n\r\n",
		"GET /a%2Fb/~u/x%20y?q=%zz HTTP/1.1\r\nhost: [::1]:8\r\nX-A:  v \t\r\nx-a: w\r\nContent-Length: 0\r\n\r\n",
		"GET //twice/./x/../y? HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nCookie: b=2\r\nConnection: Keep-Alive\r\n\r\n",
		"GET /(x)*!'? HTTP/1.1\r\nHost: h\r\nX_Y-z: \r\n\r\n",
		"GET /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /p HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var h reqHead
		if parseRequestHead(b, &h) != headOK {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[:h.size])))
		if err != nil {
			t.Fatalf("taken %q, ReadRequest: %v", b[:h.size], err)
		}
		// net/http's server checks (conn.readRequest).
		// (ReadRequest refuses several Host lines and takes Host out of
		// the header.)
		if !httpguts.ValidHostHeader(req.Host) {
			t.Fatalf("taken %q: Host %q", b, req.Host)
		}
		for k, vv := range req.Header {
			if !httpguts.ValidHeaderFieldName(k) {
				t.Fatalf("taken %q: name %q", b, k)
			}
			for _, v := range vv {
				if !httpguts.ValidHeaderFieldValue(v) {
					t.Fatalf("taken %q: value %q", b, v)
				}
			}
		}
		if req.Method != h.method || req.RequestURI != h.target || req.Host != h.host || req.Close != h.close ||
			req.Proto != "HTTP/1.1" || req.ContentLength != 0 || req.Body != http.NoBody || len(req.TransferEncoding) != 0 {
			t.Fatalf("%q: ReadRequest %+v, parser %+v", b, req, h)
		}
		if !reflect.DeepEqual(req.URL, h.url) {
			t.Fatalf("%q: URL %#v, parser %#v", b, req.URL, h.url)
		}
		if !reflect.DeepEqual(req.Header, h.header) {
			t.Fatalf("%q: header %q, parser %q", b, req.Header, h.header)
		}
		if req.Header == nil || len(h.header) != len(req.Header) {
			t.Fatalf("%q: header sizes", b)
		}
	})
}
