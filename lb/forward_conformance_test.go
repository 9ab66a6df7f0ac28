package lb

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The conformance suite sends every case, as raw bytes over a fresh
// connection, to two load balancers over the same in-process instance: one
// with the fast path (lb/fastpath.go), one with DisableFastPath (every
// request through httputil.ReverseProxy). What the client got back and
// what the instance received must be the same; each case also asserts
// what both must do.

// testKey marks a request so that the instance's record of it can be
// found; it is left out of the comparison.
const testKey = "X-Test-Key"

// received is what the conformance instance saw of one request.
type received struct {
	Method, RequestURI, Host, Proto string
	Header                          http.Header
	BodyLen                         int64
	BodySum                         string
}

// conformanceUpstream is an instance whose paths exercise the proxy's
// corners, recording every request it got by its X-Test-Key.
type conformanceUpstream struct {
	srv *httptest.Server

	mu      sync.Mutex
	got     map[string]received
	aborted map[string]chan struct{} // /hold: closed when the lb gave up
}

// newConformanceUpstream starts the instance; connState, when not nil,
// watches its connections.
func newConformanceUpstream(t *testing.T, connState ...func(net.Conn, http.ConnState)) *conformanceUpstream {
	u := &conformanceUpstream{got: map[string]received{}, aborted: map[string]chan struct{}{}}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(u.serve))
	if len(connState) > 0 {
		u.srv.Config.ConnState = connState[0]
	}
	u.srv.Start()
	t.Cleanup(u.srv.Close)
	return u
}

func (u *conformanceUpstream) addr() string { return strings.TrimPrefix(u.srv.URL, "http://") }

func (u *conformanceUpstream) record(key string, r received) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.got[key] = r
}

func (u *conformanceUpstream) lookup(key string) (received, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r, ok := u.got[key]
	return r, ok
}

func (u *conformanceUpstream) abortedCh(key string) chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	ch, ok := u.aborted[key]
	if !ok {
		ch = make(chan struct{})
		u.aborted[key] = ch
	}
	return ch
}

// hijack takes the raw connection to write a response by hand.
func hijack(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter) {
	c, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	return c, rw
}

func (u *conformanceUpstream) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		writeJSON(w, 200, map[string]string{"status": "ok", "instance": "up1"})
		return
	}
	key := r.Header.Get(testKey)
	if r.URL.Path == "/ws" { // upgrade: answered before the body is read
		u.record(key, received{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Proto: r.Proto, Header: r.Header.Clone()})
		c, rw := hijack(w)
		defer c.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", r.Header.Get("Upgrade"))
		_ = rw.Flush()
		line, _ := rw.ReadString('\n')
		fmt.Fprintf(rw, "echo %s", line)
		_ = rw.Flush()
		return
	}
	h := sha256.New()
	n, _ := io.Copy(h, r.Body)
	u.record(key, received{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Proto: r.Proto,
		Header: r.Header.Clone(), BodyLen: n, BodySum: hex.EncodeToString(h.Sum(nil))})
	w.Header().Set("X-Request-Id", "instance-made-id") // the lb's own replaces it
	switch r.URL.Path {
	case "/status":
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		w.Header().Set("X-Up", "1")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "body that must not be sent")
	case "/chunked":
		for i := range 3 {
			fmt.Fprintf(w, "piece %d\n", i)
			w.(http.Flusher).Flush()
		}
	case "/trailers":
		w.Header().Set("Trailer", "X-Sum, X-Count")
		_, _ = io.WriteString(w, "with trailers\n")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Sum", "abc")
		w.Header().Set("X-Count", "3")
		w.Header().Set(http.TrailerPrefix+"X-Late", "unannounced")
	case "/hopresp":
		w.Header().Set("Connection", "X-Up-Private")
		w.Header().Set("X-Up-Private", "secret")
		w.Header().Set("Keep-Alive", "timeout=1")
		w.Header().Set("Proxy-Connection", "keep-alive")
		w.Header().Set("Upgrade", "h2c")
		w.Header().Set("Proxy-Authenticate", "Basic")
		w.Header().Set("X-Up", "kept")
		_, _ = io.WriteString(w, "hop\n")
	case "/big":
		size, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = io.Copy(w, io.LimitReader(patternReader{}, int64(size)))
	case "/sse":
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
	case "/early":
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		_, _ = io.WriteString(w, "after hints\n")
	case "/close":
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "closing\n")
	case "/eof-body": // no length, no chunking: the body runs to the close
		c, rw := hijack(w)
		defer c.Close()
		_, _ = io.WriteString(rw, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close\n")
		_ = rw.Flush()
	case "/cut": // a body shorter than announced
		c, rw := hijack(w)
		defer c.Close()
		_, _ = io.WriteString(rw, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
		_ = rw.Flush()
	case "/cut-chunked": // a chunked body without its last chunk
		c, rw := hijack(w)
		defer c.Close()
		_, _ = io.WriteString(rw, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n")
		_ = rw.Flush()
	case "/raw": // a response head written by hand (rawResponses)
		c, rw := hijack(w)
		defer c.Close()
		raw, ok := rawResponses[r.URL.Query().Get("r")]
		if !ok {
			panic("no raw response " + r.URL.Query().Get("r"))
		}
		first, rest, split := strings.Cut(raw, "|") // | : the rest comes later
		_, _ = io.WriteString(rw, first)
		_ = rw.Flush()
		if split {
			time.Sleep(50 * time.Millisecond)
			_, _ = io.WriteString(rw, rest)
			_ = rw.Flush()
		}
	case "/drop": // no answer at all
		c, _ := hijack(w)
		c.Close()
	case "/stall": // no answer until the lb gives up
		<-r.Context().Done()
	case "/hold": // streams, then waits until the lb gives up
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(u.abortedCh(key))
	default:
		writeJSON(w, 200, map[string]any{"path": r.URL.Path, "body_len": n})
	}
}

// rawResponses are answers the instance writes by hand on /raw?r=NAME:
// the shapes the fast path's own head parser (lb/fasthead.go) takes, and
// those it must leave to http.ReadResponse, malformed ones included. A |
// splits the answer into two writes 50 ms apart.
var rawResponses = map[string]string{
	"common":              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Multi: a\r\nX-Multi: b\r\nX-Request-Id: up\r\nContent-Length: 2\r\n\r\n{}",
	"no reason":           "HTTP/1.1 201\r\nContent-Length: 3\r\n\r\nabc",
	"value spaces":        "HTTP/1.1 200 OK\r\nX-Pad: \t  padded \t \r\nX-Empty:\r\nContent-Length: 0\r\n\r\n",
	"odd status":          "HTTP/1.1 599 Whatever\r\nContent-Length: 1\r\n\r\nx",
	"body split":          "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234|56789",
	"head split":          "HTTP/1.1 200 OK\r\nX-A: 1\r\n|Content-Length: 2\r\n\r\nok",
	"short body":          "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234",
	"bytes after":         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE",
	"duplicate CL":        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
	"conflicting CL":      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk",
	"CL and TE":           "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	"bad CL":              "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nok",
	"signed CL":           "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
	"leading zero CL":     "HTTP/1.1 200 OK\r\nContent-Length: 02\r\n\r\nok",
	"obs-fold":            "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
	"space before colon":  "HTTP/1.1 200 OK\r\nX-Bad : 1\r\nContent-Length: 2\r\n\r\nok",
	"lower-case name":     "HTTP/1.1 200 OK\r\nx-lower: 1\r\ncontent-length: 2\r\n\r\nok",
	"bare LF":             "HTTP/1.1 200 OK\nX-A: 1\nContent-Length: 2\n\nok",
	"CR in value":         "HTTP/1.1 200 OK\r\nX-A: 1\r2\r\nContent-Length: 2\r\n\r\nok",
	"obs-text value":      "HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9\r\nContent-Length: 2\r\n\r\nok",
	"control in value":    "HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 2\r\n\r\nok",
	"bad status":          "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.0":            "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"connection close":    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
	"many fields":         "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Many: v\r\n", 60) + "Content-Length: 2\r\n\r\nok",
	"event stream":        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 9\r\n\r\ndata: 1\n\n",
	"server timing":       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer-Timing: db;dur=2\r\nServer-Timing: gw;dur=1.5\r\nDate: Mon, 07 Dec 2026 09:00:00 GMT\r\nContent-Length: 2\r\n\r\nok",
	"empty server timing": "HTTP/1.1 200 OK\r\nServer-Timing:\r\nContent-Length: 0\r\n\r\n",
	"no type":             "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n<html>hi</html",
}

// rawStatus is what a client gets for each of rawResponses: the status,
// and whether the body is cut short. Status 0: no answer at all (a short
// body of a declared length aborts the answer before its buffered head
// goes out). A space before a response field's colon is net/textproto's
// business (it takes it); the fast path's parser leaves it to it.
var rawStatus = map[string]struct {
	status int
	cut    bool
}{
	"common": {200, false}, "no reason": {201, false}, "value spaces": {200, false}, "odd status": {599, false},
	"body split": {200, false}, "head split": {200, false}, "short body": {0, false}, "bytes after": {200, false},
	"duplicate CL": {200, false}, "conflicting CL": {502, false}, "CL and TE": {200, false}, "bad CL": {502, false},
	"signed CL": {502, false}, "leading zero CL": {200, false}, "obs-fold": {200, false}, "space before colon": {200, false},
	"lower-case name": {200, false}, "bare LF": {200, false}, "CR in value": {502, false}, "obs-text value": {200, false},
	"control in value": {502, false}, "bad status": {502, false}, "HTTP/1.0": {200, false}, "connection close": {200, false},
	"server timing": {200, false}, "empty server timing": {200, false}, "no type": {200, false},
	"many fields": {200, false}, "event stream": {200, false},
}

// patternReader is an endless stream of a repeating byte pattern.
type patternReader struct{}

func (patternReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return len(p), nil
}

// rawResponse is what a client read of one answer.
type rawResponse struct {
	Status   int
	Header   http.Header
	Body     string
	BodyErr  bool // the body ended early (the connection was cut)
	Trailer  http.Header
	Chunked  bool
	Interim  []int // 1xx codes before the final answer
	ReadFail bool  // no answer could be read (the connection closed)
}

// exchange writes raw to addr and reads every answer until the
// connection closes (each case's last request asks for that).
func exchange(t *testing.T, addr, raw string) []rawResponse {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	return readAll(t, bufio.NewReader(conn), requestMethods(raw))
}

// requestMethods lists the methods of the requests in raw, in order, so
// that HEAD answers are read without a body.
func requestMethods(raw string) []string {
	var ms []string
	for _, line := range strings.Split(raw, "\r\n") {
		for _, m := range []string{"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS "} {
			if strings.HasPrefix(line, m) && strings.Contains(line, " HTTP/1.") {
				ms = append(ms, strings.TrimSpace(m))
			}
		}
	}
	return ms
}

func readAll(t *testing.T, br *bufio.Reader, methods []string) []rawResponse {
	t.Helper()
	var out []rawResponse
	var interim []int
	for i := 0; ; {
		method := "GET"
		if i < len(methods) {
			method = methods[i]
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			if len(out) == 0 || len(interim) > 0 {
				out = append(out, rawResponse{ReadFail: true, Interim: interim})
			}
			return out
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != 101 {
			interim = append(interim, resp.StatusCode)
			continue
		}
		body, berr := io.ReadAll(resp.Body)
		r := rawResponse{Status: resp.StatusCode, Header: normHeader(resp.Header), Body: string(body),
			BodyErr: berr != nil, Trailer: resp.Trailer, Chunked: slices.Contains(resp.TransferEncoding, "chunked"),
			Interim: interim}
		if len(body) > 256 {
			r.Body = fmt.Sprintf("%d bytes, sha256 %x", len(body), sha256.Sum256(body))
		}
		out = append(out, r)
		interim = nil
		i++
		if berr != nil || resp.StatusCode == 101 || resp.Close {
			return out
		}
	}
}

var serverTimingDur = regexp.MustCompile(`dur=[0-9.]+`)

// normHeader drops what differs between any two answers (Date, the
// durations of Server-Timing) and checks X-Request-Id apart.
func normHeader(h http.Header) http.Header {
	h = h.Clone()
	h.Del("Date")
	for i, v := range h.Values(ServerTimingHeader) {
		h[ServerTimingHeader][i] = serverTimingDur.ReplaceAllString(v, "dur=*")
	}
	if len(h.Values("X-Request-Id")) == 1 {
		h.Set("X-Request-Id", "(one)")
	}
	return h
}

// conformancePair is the two load balancers over one instance.
type conformancePair struct {
	up         *conformanceUpstream
	fast, slow *harness
}

func startConformancePair(t *testing.T) *conformancePair {
	up := newConformanceUpstream(t)
	cfg := func(disable bool) Config {
		return Config{
			External:        []External{{Addr: up.addr()}},
			Policy:          RoundRobin,
			AdminToken:      testAdminToken,
			HealthInterval:  time.Hour,
			DisableFastPath: disable,
			Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		}
	}
	return &conformancePair{up: up, fast: startLB(t, cfg(false)), slow: startLB(t, cfg(true))}
}

// conformanceCase is one exchange: raw request bytes (with KEY where the
// test key goes) and what both load balancers must do.
type conformanceCase struct {
	name string
	raw  string
	// check asserts what both must do: the answers, and what the instance
	// received (ok false when it received nothing).
	check func(t *testing.T, resps []rawResponse, got received, ok bool)
}

func TestForwardConformance(t *testing.T) {
	p := startConformancePair(t)
	cases := forwardConformanceCases()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var results [2][]rawResponse
			var gots [2]received
			var oks [2]bool
			for i, h := range []*harness{p.fast, p.slow} {
				// Each case on fresh connections to the instance: a case
				// whose answer leaves bytes after its body ("bytes after")
				// must not hand them to the next case. (http.Transport puts
				// such a connection back in its pool an instant before it
				// notices the bytes and closes it; a request taking it in
				// that instant reads them as its answer: 502. Seen once
				// under make test.)
				h.lb.transport.CloseIdleConnections()
				key := fmt.Sprintf("%s/%d", tc.name, i)
				raw := strings.ReplaceAll(tc.raw, "KEY", key)
				results[i] = exchange(t, strings.TrimPrefix(h.base, "http://"), raw)
				gots[i], oks[i] = p.up.lookup(key)
				tc.check(t, results[i], gots[i], oks[i])
			}
			if !sameAnswers(results[0], results[1]) {
				t.Errorf("answers differ:\nfast path:    %+v\nReverseProxy: %+v", results[0], results[1])
			}
			if oks[0] != oks[1] {
				t.Fatalf("instance reached: fast path %v, ReverseProxy %v", oks[0], oks[1])
			}
			if !sameReceived(gots[0], gots[1]) {
				t.Errorf("the instance got different requests:\nfast path:    %+v\nReverseProxy: %+v", gots[0], gots[1])
			}
		})
	}
	for _, h := range []*harness{p.fast, p.slow} {
		h.waitFor("in-flight count back to 0", func() bool { return h.lb.Instances()[0].InFlight == 0 })
	}
}

// sameAnswers compares two clients' answers. One difference is allowed:
// a Content-Type on a streamed (chunked) answer that only one side has.
// net/http sniffs one when a body byte is written before the headers are
// flushed, and ReverseProxy races its flush timer (flushInterval -1: an
// immediate time.AfterFunc) against the first body write, so it sends a
// sniffed type or none depending on goroutine timing; the fast path
// always flushes the headers first (none).
func sameAnswers(a, b []rawResponse) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	for i := range a {
		_, ca := a[i].Header["Content-Type"]
		_, cb := b[i].Header["Content-Type"]
		if a[i].Chunked && b[i].Chunked && ca != cb {
			a[i].Header, b[i].Header = a[i].Header.Clone(), b[i].Header.Clone()
			a[i].Header.Del("Content-Type")
			b[i].Header.Del("Content-Type")
		}
	}
	return reflect.DeepEqual(a, b)
}

// sameReceived compares two records but for the test key and the request
// id (made by each lb).
func sameReceived(a, b received) bool {
	norm := func(r received) received {
		r.Header = r.Header.Clone()
		if r.Header != nil {
			r.Header.Del(testKey)
			if len(r.Header.Values("X-Request-Id")) == 1 {
				r.Header.Set("X-Request-Id", "(one)")
			}
		}
		return r
	}
	a, b = norm(a), norm(b)
	return a.Method == b.Method && a.RequestURI == b.RequestURI && a.Host == b.Host && a.Proto == b.Proto &&
		a.BodyLen == b.BodyLen && a.BodySum == b.BodySum && maps.EqualFunc(a.Header, b.Header, slices.Equal)
}

func chunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

// TestForwardUpgradeAndContinue: a websocket-style upgrade passes through
// both ways, and Expect: 100-continue gets its 100 before the body is
// sent, with the fast path on and off.
func TestForwardUpgradeAndContinue(t *testing.T) {
	p := startConformancePair(t)
	for name, h := range map[string]*harness{"fast path": p.fast, "ReverseProxy": p.slow} {
		t.Run(name+"/upgrade", func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			_, _ = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: example.test\r\nX-Test-Key: ws-"+name+"\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "websocket" {
				t.Fatalf("upgrade answer %v %v", resp, err)
			}
			_, _ = io.WriteString(conn, "ping\n")
			line, err := br.ReadString('\n')
			if err != nil || line != "echo ping\n" {
				t.Fatalf("after the upgrade: %q %v", line, err)
			}
			got, _ := p.up.lookup("ws-" + name)
			if got.Header.Get("Upgrade") != "websocket" || !tokenListed(got.Header["Connection"], "upgrade") {
				t.Errorf("instance got %v", got.Header)
			}
		})
		t.Run(name+"/100-continue", func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			_, _ = io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: example.test\r\nX-Test-Key: continue-"+name+
				"\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, &http.Request{Method: "POST"})
			if err != nil || resp.StatusCode != http.StatusContinue {
				t.Fatalf("before the body: %v %v, want 100 Continue", resp, err)
			}
			_, _ = io.WriteString(conn, "hello")
			// The instance's own 100 Continue is relayed too (ReverseProxy).
			for resp, err = http.ReadResponse(br, &http.Request{Method: "POST"}); err == nil && resp.StatusCode == http.StatusContinue; {
				resp, err = http.ReadResponse(br, &http.Request{Method: "POST"})
			}
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("final answer %v %v", resp, err)
			}
			if got, _ := p.up.lookup("continue-" + name); got.BodyLen != 5 {
				t.Errorf("instance got %d bytes, want 5", got.BodyLen)
			}
		})
	}
}

// TestForwardClientAbort: a client that leaves while its answer streams
// brings the in-flight count back to 0 and the instance sees its request
// cancelled, with the fast path on and off.
func TestForwardClientAbort(t *testing.T) {
	p := startConformancePair(t)
	for name, h := range map[string]*harness{"fast path": p.fast, "ReverseProxy": p.slow} {
		t.Run(name, func(t *testing.T) {
			key := "abort-" + name
			conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			_, _ = io.WriteString(conn, "GET /hold HTTP/1.1\r\nHost: example.test\r\nX-Test-Key: "+key+"\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || !strings.Contains(line, "first") {
				t.Fatalf("stream: %q %v", line, err)
			}
			if n := h.lb.Instances()[0].InFlight; n != 1 {
				t.Fatalf("in flight while streaming = %d, want 1", n)
			}
			conn.Close()
			select {
			case <-p.up.abortedCh(key):
			case <-time.After(20 * time.Second):
				t.Fatal("the instance's request was not cancelled after the client left")
			}
			h.waitFor("in-flight count back to 0", func() bool { return h.lb.Instances()[0].InFlight == 0 })
		})
	}
}

// TestFastPathFailureIsReportedLikeReverseProxy: an instance that is gone
// (connection refused) is marked down by passive detection, and the
// request retried on another, through the fast path as through the
// ReverseProxy; a stale pooled connection is not blamed on the instance.
func TestFastPathFailureIsReportedLikeReverseProxy(t *testing.T) {
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("DisableFastPath=%v", disable), func(t *testing.T) {
			a, b := newConformanceUpstream(t), newConformanceUpstream(t)
			h := startLB(t, Config{
				External:        []External{{Addr: a.addr()}, {Addr: b.addr()}},
				Policy:          RoundRobin,
				Retry:           true,
				AdminToken:      testAdminToken,
				HealthInterval:  time.Hour,
				DisableFastPath: disable,
				Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			// Warm both pools, then stop one instance: its idle pooled
			// connection is closed, then its port refuses.
			for range 4 {
				if resp, body, err := h.get("/plain"); err != nil || resp.StatusCode != 200 {
					t.Fatalf("warm-up: %v %v %s", err, resp, body)
				}
			}
			a.srv.CloseClientConnections()
			a.srv.Close()
			for i := range 6 {
				resp, body, err := h.get("/plain")
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("request %d after the stop: %v %v %s, want 200 from the other instance", i, err, resp, body)
				}
			}
			var down int
			for _, in := range h.lb.Instances() {
				if !in.Healthy {
					down++
				}
			}
			if down != 1 {
				t.Errorf("%d instances down, want 1 (passive detection): %+v", down, h.lb.Instances())
			}
		})
	}
}

// TestFastPathPoolReuse: sequential requests reuse one pooled connection;
// a response with Connection: close or without a length is not pooled.
func TestFastPathPoolReuse(t *testing.T) {
	var conns sync.Map
	up := newConformanceUpstream(t, func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Store(c.RemoteAddr().String(), true)
		}
	})
	h := startLB(t, Config{External: []External{{Addr: up.addr()}}, AdminToken: testAdminToken,
		HealthInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	count := func() int {
		n := 0
		conns.Range(func(any, any) bool { n++; return true })
		return n
	}
	// The health checks have their own client: count from here.
	base := count()
	for range 5 {
		if resp, _, err := h.get("/plain"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
	}
	if n := count() - base; n != 1 {
		t.Errorf("%d upstream connections for 5 sequential requests, want 1", n)
	}
	for _, path := range []string{"/close", "/eof-body"} {
		if resp, _, err := h.get("/plain"); err != nil || resp.StatusCode != 200 { // one pooled
			t.Fatalf("%v %v", resp, err)
		}
		before := count()
		for range 2 {
			if resp, _, err := h.get(path); err != nil || resp.StatusCode != 200 {
				t.Fatalf("%s: %v %v", path, resp, err)
			}
		}
		// The first reuses the pooled connection, which then is not
		// pooled again: the second needs a new one.
		if n := count() - before; n != 1 {
			t.Errorf("%s: %d new upstream connections for 2 requests, want 1 (not pooled after)", path, n)
		}
	}
}

// TestFastEligible: what takes the fast path.
func TestFastEligible(t *testing.T) {
	for _, tt := range []struct {
		raw  string
		want bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", true},
		{"HEAD /x?y HTTP/1.0\r\nHost: a\r\n\r\n", true},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx", false},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", false},
		{"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"GET / HTTP/1.0\r\n\r\n", false},
	} {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tt.raw)))
		if err != nil {
			t.Fatalf("%q: %v", tt.raw, err)
		}
		if got := fastEligible(r); got != tt.want {
			t.Errorf("fastEligible(%q) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

// FuzzWriteRequest: whatever request net/http's parser accepts and the
// fast path takes, writeRequest writes one request that parses back with
// the same method, target path, Host and end-to-end headers, and no
// hop-by-hop header but Te: trailers.
func FuzzWriteRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /x?a=1;b HTTP/1.1\r\nHost: a\r\nConnection: x-a, close\r\nX-A: 1\r\nTE: trailers\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: a:80\r\nContent-Length: 0\r\nUser-Agent: u\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n",
		"DELETE /%7E HTTP/1.0\r\nHost: [::1]:8\r\nKeep-Alive: 1\r\nProxy-Connection: k\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil || !fastEligible(r) {
			return
		}
		r.RemoteAddr = "192.0.2.1:1234"
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		writeRequest(bw, r)
		_ = bw.Flush()
		out, err := http.ReadRequest(bufio.NewReader(&buf))
		if err != nil {
			t.Fatalf("written request does not parse: %v\n%q", err, buf.String())
		}
		if out.Method != r.Method || out.URL.Path != r.URL.Path || out.Host != r.Host || out.ContentLength != 0 {
			t.Fatalf("parsed back as %s %q host %q CL %d, from %s %q host %q", out.Method, out.URL.Path, out.Host, out.ContentLength, r.Method, r.URL.Path, r.Host)
		}
		if out.Header.Get("X-Forwarded-For") != "192.0.2.1" || out.Header.Get("X-Forwarded-Host") != r.Host {
			t.Fatalf("forwarding headers %v", out.Header)
		}
		for k := range out.Header {
			if k == "Te" {
				if out.Header.Get("Te") != "trailers" {
					t.Fatalf("Te %q", out.Header.Get("Te"))
				}
				continue
			}
			if hopHeader(k) || tokenListed(r.Header["Connection"], k) && !strings.HasPrefix(k, "X-Forwarded-") {
				t.Fatalf("hop-by-hop %s forwarded: %q", k, buf.String())
			}
		}
		for k, vv := range r.Header {
			switch {
			case hopHeader(k), tokenListed(r.Header["Connection"], k), k == "Forwarded", strings.HasPrefix(k, "X-Forwarded-"),
				k == "Content-Length", k == "User-Agent":
				continue
			}
			if len(out.Header[k]) != len(vv) {
				t.Fatalf("header %s: %q, want %q\n%q", k, out.Header[k], vv, buf.String())
			}
		}
	})
}

// TestForwardUpstreamTimeout: an instance that does not answer within
// UpstreamTimeout gets 504 gateway_timeout, the same through the fast path
// and the ReverseProxy, and its connection is not reused.
func TestForwardUpstreamTimeout(t *testing.T) {
	up := newConformanceUpstream(t)
	for _, disable := range []bool{false, true} {
		h := startLB(t, Config{External: []External{{Addr: up.addr()}}, AdminToken: testAdminToken,
			HealthInterval: time.Hour, UpstreamTimeout: 300 * time.Millisecond, DisableFastPath: disable,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		resp, body, err := h.get("/stall")
		if err != nil || resp.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("DisableFastPath=%v: %v %v %s, want 504", disable, err, resp, body)
		}
		if code, _ := apiError(t, body); code != codeGatewayTimeout {
			t.Errorf("DisableFastPath=%v: code %q", disable, code)
		}
		if resp, body, err := h.get("/plain"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("DisableFastPath=%v: after the timeout: %v %v %s", disable, err, resp, body)
		}
	}
}

// forwardConformanceCases are TestForwardConformance's exchanges.
func forwardConformanceCases() []conformanceCase {
	hdr := func(extra string) string {
		return "Host: example.test\r\nX-Test-Key: KEY\r\n" + extra + "Connection: close\r\n\r\n"
	}
	status := func(want ...int) func(*testing.T, []rawResponse, received, bool) {
		return func(t *testing.T, rs []rawResponse, _ received, _ bool) {
			t.Helper()
			var got []int
			for _, r := range rs {
				got = append(got, r.Status)
			}
			if !slices.Equal(got, want) {
				t.Errorf("statuses %v, want %v: %+v", got, want, rs)
			}
		}
	}
	big := 4 << 20
	bigBody := strings.Repeat("0123456789abcdef", big/16)
	cases := []conformanceCase{
		{name: "GET", raw: "GET /plain?a=1 HTTP/1.1\r\n" + hdr("User-Agent: conformance\r\n"),
			check: func(t *testing.T, rs []rawResponse, got received, ok bool) {
				if len(rs) != 1 || rs[0].Status != 200 || rs[0].Header.Get("X-Request-Id") != "(one)" {
					t.Fatalf("answer %+v", rs)
				}
				if !ok || got.Host != "example.test" || got.RequestURI != "/plain?a=1" || got.Header.Get("User-Agent") != "conformance" ||
					got.Header.Get("X-Forwarded-For") != "127.0.0.1" || got.Header.Get("X-Forwarded-Host") != "example.test" ||
					got.Header.Get("X-Forwarded-Proto") != "http" || got.Header.Get("X-Request-Id") == "" {
					t.Errorf("instance got %+v", got)
				}
			}},
		{name: "HEAD", raw: "HEAD /plain HTTP/1.1\r\n" + hdr(""),
			check: func(t *testing.T, rs []rawResponse, got received, ok bool) {
				if len(rs) != 1 || rs[0].Status != 200 || rs[0].Body != "" || got.Method != "HEAD" {
					t.Errorf("answer %+v, instance got %+v", rs, got)
				}
			}},
		{name: "204 without body", raw: "GET /status?code=204 HTTP/1.1\r\n" + hdr(""), check: func(t *testing.T, rs []rawResponse, _ received, _ bool) {
			if len(rs) != 1 || rs[0].Status != 204 || rs[0].Body != "" || rs[0].Header.Get("X-Up") != "1" {
				t.Errorf("answer %+v", rs)
			}
		}},
		{name: "304 without body", raw: "GET /status?code=304 HTTP/1.1\r\n" + hdr("If-None-Match: \"x\"\r\n"), check: func(t *testing.T, rs []rawResponse, _ received, _ bool) {
			if len(rs) != 1 || rs[0].Status != 304 || rs[0].Body != "" {
				t.Errorf("answer %+v", rs)
			}
		}},
		{name: "chunked response", raw: "GET /chunked HTTP/1.1\r\n" + hdr(""), check: func(t *testing.T, rs []rawResponse, _ received, _ bool) {
			if len(rs) != 1 || !rs[0].Chunked || rs[0].Body != "piece 0\npiece 1\npiece 2\n" {
				t.Errorf("answer %+v", rs)
			}
		}},
		{name: "event stream", raw: "GET /sse HTTP/1.1\r\n" + hdr(""), check: status(200)},
		{name: "response trailers", raw: "GET /trailers HTTP/1.1\r\n" + hdr("TE: trailers\r\n"),
			check: func(t *testing.T, rs []rawResponse, got received, _ bool) {
				if len(rs) != 1 || rs[0].Trailer.Get("X-Sum") != "abc" || rs[0].Trailer.Get("X-Count") != "3" || rs[0].Trailer.Get("X-Late") != "unannounced" {
					t.Errorf("answer %+v", rs)
				}
				if got.Header.Get("Te") != "trailers" {
					t.Errorf("instance got Te %q, want trailers", got.Header.Get("Te"))
				}
			}},
		{name: "hop-by-hop request headers", raw: "GET /plain HTTP/1.1\r\nHost: example.test\r\nX-Test-Key: KEY\r\n" +
			"Connection: keep-alive, X-Private, close\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n" +
			"TE: gzip\r\nProxy-Authorization: Basic eDp5\r\nTrailer: X-T\r\nX-Kept: yes\r\n\r\n",
			check: func(t *testing.T, _ []rawResponse, got received, ok bool) {
				for _, h := range []string{"Connection", "X-Private", "Keep-Alive", "Proxy-Connection", "Te", "Proxy-Authorization", "Trailer", "Upgrade"} {
					if v, has := got.Header[h]; has {
						t.Errorf("instance got hop-by-hop %s: %q", h, v)
					}
				}
				if !ok || got.Header.Get("X-Kept") != "yes" {
					t.Errorf("instance got %+v", got)
				}
			}},
		{name: "hop-by-hop response headers", raw: "GET /hopresp HTTP/1.1\r\n" + hdr(""),
			check: func(t *testing.T, rs []rawResponse, _ received, _ bool) {
				if len(rs) != 1 || rs[0].Header.Get("X-Up") != "kept" {
					t.Fatalf("answer %+v", rs)
				}
				for _, h := range []string{"X-Up-Private", "Keep-Alive", "Proxy-Connection", "Upgrade", "Proxy-Authenticate"} {
					if v, has := rs[0].Header[h]; has {
						t.Errorf("client got hop-by-hop %s: %q", h, v)
					}
				}
			}},
		{name: "forwarding headers from the client are replaced", raw: "GET /plain HTTP/1.1\r\n" +
			hdr("X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6\r\n"),
			check: func(t *testing.T, _ []rawResponse, got received, _ bool) {
				if got.Header.Get("X-Forwarded-For") != "127.0.0.1" || got.Header.Get("X-Forwarded-Host") != "example.test" ||
					got.Header.Get("X-Forwarded-Proto") != "http" || got.Header.Get("Forwarded") != "" {
					t.Errorf("instance got %v", got.Header)
				}
			}},
		{name: "no user agent", raw: "GET /plain HTTP/1.1\r\n" + hdr(""), check: func(t *testing.T, _ []rawResponse, got received, _ bool) {
			if _, has := got.Header["User-Agent"]; has {
				t.Errorf("instance got a User-Agent the client did not send: %v", got.Header)
			}
		}},
		{name: "two user agents", raw: "GET /plain HTTP/1.1\r\n" + hdr("User-Agent: one\r\nUser-Agent: two\r\n"), check: status(200)},
		{name: "unparsable query parameters", raw: "GET /q?a=1;b=2&c=%zz&d=4 HTTP/1.1\r\n" + hdr(""), check: status(200)},
		{name: "escaped path", raw: "GET /a%2Fb/%7Euser/x%20y HTTP/1.1\r\n" + hdr(""),
			check: func(t *testing.T, _ []rawResponse, got received, _ bool) {
				if got.RequestURI != "/a%2Fb/~user/x%20y" && got.RequestURI != "/a%2Fb/%7Euser/x%20y" {
					t.Errorf("instance got %q", got.RequestURI)
				}
			}},
		{name: "double slash and dot segments", raw: "GET //twice/./x/../y?z HTTP/1.1\r\n" + hdr(""), check: status(200)},
		{name: "many and long headers", raw: "GET /plain HTTP/1.1\r\n" + hdr(strings.Repeat("X-Many: v\r\n", 50)+
			"X-Long: "+strings.Repeat("l", 8000)+"\r\nCookie: a=1\r\nCookie: b=2\r\n"),
			check: func(t *testing.T, _ []rawResponse, got received, _ bool) {
				if len(got.Header["X-Many"]) != 50 || len(got.Header.Get("X-Long")) != 8000 || len(got.Header["Cookie"]) != 2 {
					t.Errorf("instance got %d X-Many, %d-byte X-Long, cookies %q", len(got.Header["X-Many"]), len(got.Header.Get("X-Long")), got.Header["Cookie"])
				}
			}},
		{name: "request id from the client", raw: "GET /plain HTTP/1.1\r\n" + hdr("X-Request-Id: client-id-1\r\n"),
			check: func(t *testing.T, rs []rawResponse, got received, _ bool) {
				if got.Header.Get("X-Request-Id") != "client-id-1" {
					t.Errorf("instance got request id %q", got.Header.Get("X-Request-Id"))
				}
			}},
		{name: "empty POST", raw: "POST /plain HTTP/1.1\r\n" + hdr("Content-Length: 0\r\n"),
			check: func(t *testing.T, _ []rawResponse, got received, _ bool) {
				if got.Method != "POST" || got.Header.Get("Content-Length") != "0" {
					t.Errorf("instance got %+v", got)
				}
			}},
		{name: "DELETE", raw: "DELETE /plain HTTP/1.1\r\n" + hdr(""), check: status(200)},
		{name: "HTTP/1.0", raw: "GET /plain HTTP/1.0\r\nHost: example.test\r\nX-Test-Key: KEY\r\n\r\n", check: status(200)},
		{name: "keep-alive: three requests on one connection", raw: "GET /plain HTTP/1.1\r\nHost: a\r\n\r\n" +
			"GET /close HTTP/1.1\r\nHost: a\r\n\r\nGET /plain HTTP/1.1\r\n" + hdr(""), check: status(200, 200, 200)},
		{name: "1xx early hints", raw: "GET /early HTTP/1.1\r\n" + hdr(""), check: func(t *testing.T, rs []rawResponse, _ received, _ bool) {
			if len(rs) != 1 || rs[0].Status != 200 || !slices.Equal(rs[0].Interim, []int{103}) {
				t.Errorf("answer %+v", rs)
			}
		}},
		{name: "body until close", raw: "GET /eof-body HTTP/1.1\r\n" + hdr(""), check: func(t *testing.T, rs []rawResponse, _ received, _ bool) {
			if len(rs) != 1 || rs[0].Body != "until the close\n" {
				t.Errorf("answer %+v", rs)
			}
		}},
		{name: "instance closes mid-response", raw: "GET /cut HTTP/1.1\r\n" + hdr(""), check: func(t *testing.T, rs []rawResponse, _ received, _ bool) {
			// The answer is cut: its headers may not even have left the
			// lb's buffer.
			if len(rs) != 1 || !(rs[0].ReadFail || rs[0].Status == 200 && rs[0].BodyErr) {
				t.Errorf("answer %+v, want a cut answer", rs)
			}
		}},
		{name: "instance closes mid-chunked-response", raw: "GET /cut-chunked HTTP/1.1\r\n" + hdr(""), check: func(t *testing.T, rs []rawResponse, _ received, _ bool) {
			if len(rs) != 1 || rs[0].Status != 200 || !rs[0].BodyErr {
				t.Errorf("answer %+v, want a cut body", rs)
			}
		}},
		{name: "instance closes without answering", raw: "GET /drop HTTP/1.1\r\n" + hdr(""), check: status(http.StatusBadGateway)},
		{name: "large response", raw: fmt.Sprintf("GET /big?n=%d HTTP/1.1\r\n", big) + hdr(""), check: func(t *testing.T, rs []rawResponse, _ received, _ bool) {
			// (Both answers' digests are compared below.)
			if len(rs) != 1 || !strings.HasPrefix(rs[0].Body, fmt.Sprintf("%d bytes,", big)) {
				t.Errorf("answer %+v, want %d bytes", rs, big)
			}
		}},
		{name: "large streamed request body", raw: "POST /upload HTTP/1.1\r\n" + "Host: example.test\r\nX-Test-Key: KEY\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
			chunk(bigBody[:big/2]) + chunk(bigBody[big/2:]) + "0\r\n\r\n",
			check: func(t *testing.T, rs []rawResponse, got received, _ bool) {
				sum := sha256.Sum256([]byte(bigBody))
				if len(rs) != 1 || rs[0].Status != 200 || got.BodyLen != int64(big) || got.BodySum != hex.EncodeToString(sum[:]) {
					t.Errorf("answer %+v, instance got %d bytes", rs, got.BodyLen)
				}
			}},
		{name: "request body with trailers", raw: "POST /upload HTTP/1.1\r\nHost: example.test\r\nX-Test-Key: KEY\r\nTransfer-Encoding: chunked\r\nTrailer: X-Req-T\r\nConnection: close\r\n\r\n" +
			chunk("hello") + "0\r\nX-Req-T: v\r\n\r\n", check: status(200)},
		{name: "smuggling: Content-Length with Transfer-Encoding", raw: "POST /upload HTTP/1.1\r\nHost: example.test\r\nX-Test-Key: KEY\r\n" +
			"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
			check: func(t *testing.T, rs []rawResponse, got received, ok bool) {
				// net/http lets chunked win (CL dropped): 0 bytes of body, then
				// the second request is the client's own, and is answered as such.
				if ok && got.BodyLen != 0 {
					t.Errorf("instance got a %d-byte body", got.BodyLen)
				}
			}},
		{name: "smuggling: duplicate Content-Length", raw: "POST /upload HTTP/1.1\r\nHost: example.test\r\nX-Test-Key: KEY\r\n" +
			"Content-Length: 3\r\nContent-Length: 30\r\n\r\nabcGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
			check: func(t *testing.T, rs []rawResponse, _ received, ok bool) {
				if ok || len(rs) != 1 || rs[0].Status != 400 {
					t.Errorf("answer %+v (instance reached: %v), want 400 from net/http", rs, ok)
				}
			}},
		{name: "smuggling: obsolete line folding", raw: "GET /plain HTTP/1.1\r\nHost: example.test\r\nX-Test-Key: KEY\r\nX-Folded: a\r\n b\r\nConnection: close\r\n\r\n",
			check: func(t *testing.T, rs []rawResponse, got received, ok bool) {
				if ok && strings.ContainsAny(got.Header.Get("X-Folded"), "\r\n") {
					t.Errorf("instance got a folded header %q", got.Header.Get("X-Folded"))
				}
			}},
		{name: "smuggling: folded Transfer-Encoding", raw: "POST /upload HTTP/1.1\r\nHost: example.test\r\nX-Test-Key: KEY\r\nContent-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
			check: func(t *testing.T, rs []rawResponse, got received, ok bool) {
				// Complete either way (an empty chunked body, or 5 bytes).
				if ok && got.BodyLen != 5 && got.BodyLen != 0 {
					t.Errorf("instance got %d bytes", got.BodyLen)
				}
			}},
		{name: "smuggling: Transfer-Encoding on a GET", raw: "GET /plain HTTP/1.1\r\nHost: example.test\r\nX-Test-Key: KEY\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
			check: status(200)},
		{name: "smuggling: space before colon", raw: "GET /plain HTTP/1.1\r\nHost: example.test\r\nX-Test-Key: KEY\r\nContent-Length : 5\r\nConnection: close\r\n\r\nhello",
			check: status(400)},
	}
	for _, name := range slices.Sorted(maps.Keys(rawResponses)) {
		// Both must give the same answer, and the one in rawStatus.
		want := rawStatus[name]
		cases = append(cases, conformanceCase{name: "raw response: " + name,
			raw: "GET /raw?r=" + url.QueryEscape(name) + " HTTP/1.1\r\n" + hdr(""),
			check: func(t *testing.T, rs []rawResponse, _ received, _ bool) {
				if len(rs) != 1 || rs[0].Status != want.status || rs[0].BodyErr != want.cut {
					t.Errorf("answer %+v, want status %d, cut %v", rs, want.status, want.cut)
				}
				if name == "common" && (!slices.Equal(rs[0].Header["X-Multi"], []string{"a", "b"}) || rs[0].Body != "{}") {
					t.Errorf("common answer %+v", rs[0])
				}
			}})
	}
	return cases
}
