package lb

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/proc"
	"github.com/authlab/authlab/internal/requestid"
)

// apiError decodes the JSON error shape, failing the test when body is not one.
func apiError(t *testing.T, body []byte) (code, message string) {
	t.Helper()
	var e struct{ Error, Message string }
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" || e.Message == "" {
		t.Fatalf("body %q is not the JSON error shape", body)
	}
	return e.Error, e.Message
}

// do sends req through client and returns the response with its body read.
func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// rawRequest writes head (a request line and headers, sent verbatim: the
// path is not cleaned as a client would) to base's host and reads the
// answer.
func rawRequest(t *testing.T, base, head string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: %v", head, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// TestDataPortServesNoAdminPlane: /_lb/*, /_admin/* and /metrics answer
// 404 on the data port, from the lb itself (the fake instance would answer
// {"leaked":true}), however the path is spelled; the admin port serves
// them.
func TestDataPortServesNoAdminPlane(t *testing.T) {
	h := startLB(t, passiveConfig(2))
	for _, tt := range []struct{ method, path string }{
		{"GET", "/_lb/instances"},
		{"GET", "/_lb"},
		{"POST", "/_lb/instances/gw1/kill"},
		{"POST", "/_admin/exit"},
		{"GET", "/_admin/stats"},
		{"GET", "/_admin"},
		{"GET", "/metrics"},
		{"GET", "/metrics/"},
		{"GET", "//_admin/stats"},
		{"GET", "/api/../_admin/stats"},
		{"GET", "/_ADMIN/stats"},
		{"GET", "/%5Fadmin/stats"},
		{"GET", "/Metrics"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := rawRequest(t, h.base, tt.method+" "+tt.path+" HTTP/1.1\r\nHost: lb\r\n"+
				"Authorization: Bearer "+testAdminToken+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			if resp.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("leaked")) {
				t.Fatalf("status %d %s, want 404 from the lb", resp.StatusCode, body)
			}
			if code, _ := apiError(t, body); code != "not_found" {
				t.Fatalf("error code %q", code)
			}
			if inst := resp.Header.Get(InstanceHeader); inst != "" {
				t.Fatalf("proxied to %s", inst)
			}
		})
	}
	// Paths merely starting alike are proxied.
	for _, p := range []string{"/metricsx", "/_lbx", "/api/_admin"} {
		resp, body, err := h.get(p)
		if err != nil || resp.StatusCode != 200 || resp.Header.Get(InstanceHeader) == "" {
			t.Errorf("GET %s: %v %v %s, want proxied", p, err, resp, body)
		}
	}
	// The admin port serves them.
	if code, body := h.admin("GET", "/_lb/instances"); code != 200 {
		t.Errorf("admin port /_lb/instances: %d %s", code, body)
	}
	if code, body := h.adminToken("GET", "/metrics", ""); code != 200 || !bytes.Contains(body, []byte("authlab_lb_instance_state")) {
		t.Errorf("admin port /metrics: %d %.200s", code, body)
	}
}

// TestAdminPlane: health and readiness on the admin port, readiness errors
// without internal addresses; the children's admin addresses are listed.
func TestAdminPlane(t *testing.T) {
	h := startLB(t, passiveConfig(1))
	if code, body := h.adminToken("GET", "/healthz", ""); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body := h.adminToken("GET", "/readyz", ""); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	if code, body := h.adminToken("GET", "/nothing", ""); code != 404 {
		t.Fatalf("/nothing: %d %s", code, body)
	}
	gw1 := h.instances()["gw1"]
	if gw1.AdminAddress == "" || gw1.AdminAddress == gw1.Address {
		t.Fatalf("gw1 %+v: want an admin address of its own", gw1)
	}
	resp, err := client.Get("http://" + gw1.AdminAddress + "/healthz")
	if err != nil {
		t.Fatalf("gw1's admin address does not answer: %v", err)
	}
	resp.Body.Close()
	if resp.Header.Get(InstanceHeader) != "gw1" {
		t.Fatalf("gw1's admin address answered as %q", resp.Header.Get(InstanceHeader))
	}
	h.mustAdmin("POST", "/_lb/instances/gw1/kill?mode=sigkill", 200)
	code, body := h.adminToken("GET", "/readyz", "")
	if code != 503 || bytes.Contains(body, []byte("127.0.0.1")) {
		t.Fatalf("/readyz without instances: %d %s, want 503 naming no address", code, body)
	}
	apiError(t, body)
}

// TestExternalKillNeedsAdminAddress: an external instance given without an
// admin address cannot be killed (400 saying why), and stays up.
func TestExternalKillNeedsAdminAddress(t *testing.T) {
	exts, _ := startExternals(t, 1, false)
	cfg := passiveConfig(0)
	cfg.External = exts
	h := startLB(t, cfg)
	for _, mode := range []string{ModeSIGKILL, ModeDrain} {
		code, body := h.admin("POST", "/_lb/instances/ext-a/kill?mode="+mode)
		if code != 400 {
			t.Fatalf("kill mode=%s: %d %s, want 400", mode, code, body)
		}
		if _, msg := apiError(t, body); !strings.Contains(msg, "admin address") {
			t.Fatalf("message %q does not say the admin address is missing", msg)
		}
	}
	if got := h.instances()["ext-a"]; got.State != StateUp || got.AdminAddress != "" {
		t.Fatalf("ext-a %+v after refused kills, want up without admin address", got)
	}
}

// TestRequestID: the lb makes an id when the client sent none or an
// unusable one, forwards it, echoes it once on every answer (its own errors
// too), and logs it with what it says about the request.
func TestRequestID(t *testing.T) {
	var logs syncBuffer
	exts, procs := startExternals(t, 2, true)
	cfg := passiveConfig(0)
	cfg.External = exts
	cfg.InstanceAdminToken = testInstanceToken
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := startLB(t, cfg)

	send := func(path, id string) (*http.Response, []byte) {
		req, err := http.NewRequest("GET", h.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if id != "" {
			req.Header.Set(requestid.Header, id)
		}
		return do(t, req)
	}
	for _, tt := range []struct{ name, sent string }{
		{"none", ""},
		{"valid", "client-id.42"},
		{"spaces", "not a usable id"},
		{"too long", strings.Repeat("a", requestid.MaxLen+1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := send("/x", tt.sent)
			got := resp.Header.Values(requestid.Header)
			if len(got) != 1 || !requestid.Valid(got[0]) {
				t.Fatalf("response X-Request-Id %q, want one valid id", got)
			}
			if requestid.Valid(tt.sent) && got[0] != tt.sent {
				t.Fatalf("valid id %q replaced by %q", tt.sent, got[0])
			}
			if !requestid.Valid(tt.sent) && got[0] == tt.sent {
				t.Fatalf("unusable id %q passed on", tt.sent)
			}
			var seen struct {
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(body, &seen); err != nil || seen.RequestID != got[0] {
				t.Fatalf("instance saw request id %q, client got %q (%s)", seen.RequestID, got[0], body)
			}
		})
	}
	// The lb's own answers carry the id too.
	if resp, _ := send("/_admin/stats", "own-404"); resp.Header.Get(requestid.Header) != "own-404" {
		t.Errorf("404 from the lb: X-Request-Id %q", resp.Header.Get(requestid.Header))
	}

	// ext-a dies behind the lb's back: the request that finds it gone gets
	// a 502 naming the instance, not its address or the raw error, and the
	// lb's log lines about it carry the request id.
	req, _ := http.NewRequest("POST", "http://"+exts[0].AdminAddr+"/_admin/exit", nil)
	req.Header.Set("Authorization", "Bearer "+testInstanceToken)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
	<-procs[0]
	var failed *http.Response
	var failedBody []byte
	for i := range 4 {
		id := "trace-" + string(rune('a'+i))
		resp, body := send("/x", id)
		if resp.StatusCode != 200 {
			failed, failedBody = resp, body
			break
		}
	}
	if failed == nil {
		t.Fatal("no request reached the dead ext-a")
	}
	id := failed.Header.Get(requestid.Header)
	if failed.StatusCode != http.StatusBadGateway || id == "" {
		t.Fatalf("request to dead ext-a: %d (id %q) %s, want 502 with the id", failed.StatusCode, id, failedBody)
	}
	code, msg := apiError(t, failedBody)
	if code != "bad_gateway" || !strings.Contains(msg, "ext-a") {
		t.Errorf("502 body %s: want bad_gateway naming ext-a", failedBody)
	}
	for _, leak := range []string{exts[0].Addr, "127.0.0.1", "dial", "connect:", "tcp"} {
		if strings.Contains(msg, leak) {
			t.Errorf("502 message %q leaks %q", msg, leak)
		}
	}
	var lines []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "request_id="+id) {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("no log line carries request_id=%s:\n%s", id, logs.String())
	}
	if !strings.Contains(strings.Join(lines, "\n"), "instance down") {
		t.Errorf("the passive 'instance down' line lacks request_id=%s:\n%s", id, logs.String())
	}
}

// TestHeaderLimits: a 64 KiB header gets 431 with the JSON body and the
// request id; one far beyond gets net/http's own 431.
func TestHeaderLimits(t *testing.T) {
	h := startLB(t, passiveConfig(1))
	for _, tt := range []struct {
		name string
		size int
		json bool
	}{
		{"64 KiB", 64 << 10, true},
		{"256 KiB", 256 << 10, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", h.base+"/x", nil)
			req.Header.Set("X-Big", strings.Repeat("b", tt.size))
			req.Header.Set(requestid.Header, "big-header")
			resp, body := do(t, req)
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("status %d, want 431", resp.StatusCode)
			}
			if tt.json {
				if code, _ := apiError(t, body); code != codeHeaderTooLarge {
					t.Errorf("code %q", code)
				}
				if resp.Header.Get(requestid.Header) != "big-header" {
					t.Errorf("431 lacks the request id")
				}
			}
		})
	}
	req, _ := http.NewRequest("GET", h.base+"/x", nil)
	req.Header.Set("X-Fine", strings.Repeat("f", 8<<10))
	if resp, body := do(t, req); resp.StatusCode != 200 {
		t.Fatalf("8 KiB header: %d %s, want 200", resp.StatusCode, body)
	}
}

// TestSlowHeaderClientIsCutOff: a client trickling its headers (one byte
// every 200 ms) is disconnected once the header timeout passes. The limit
// is generous; what is asserted is that the server closes the connection.
func TestSlowHeaderClientIsCutOff(t *testing.T) {
	cfg := passiveConfig(1)
	cfg.ReadHeaderTimeout = 300 * time.Millisecond
	h := startLB(t, cfg)
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /x HTTP/1.1\r\nHost: lb\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	const limit = 8 * time.Second // the old hard-coded header timeout was 10 s
	_ = conn.SetReadDeadline(time.Now().Add(limit))
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v of trickled headers", limit)
	}
}

// TestClientAbortMidResponseReleasesInFlight: a client that goes away
// while its response streams makes ReverseProxy abort with a panic; the
// instance's in-flight count must still come back to 0.
func TestClientAbortMidResponseReleasesInFlight(t *testing.T) {
	h := startLB(t, passiveConfig(1))
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "GET /stream?key=abort HTTP/1.1\r\nHost: lb\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if strings.Contains(line, "first") {
			break
		}
	}
	if got := h.instances()["gw1"].InFlight; got != 1 {
		t.Fatalf("in flight while streaming = %d, want 1", got)
	}
	conn.Close()
	h.waitFor("in-flight count back to 0 after the client left", func() bool {
		return h.lb.Instances()[0].InFlight == 0
	})
}

// TestSlowBodyIsCutOff: a body that stops arriving is cut off after
// ReadTimeout with 408, whether buffered for a retry or streamed, and the
// instance is not blamed for it.
func TestSlowBodyIsCutOff(t *testing.T) {
	for _, tt := range []struct {
		name  string
		retry bool
		size  int // declared Content-Length
	}{
		{"buffered for retry", true, 1000},
		{"streamed, too big to buffer", true, 100 << 10},
		{"streamed, no retry", false, 1000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := passiveConfig(1)
			cfg.Retry = tt.retry
			cfg.ReadTimeout = 300 * time.Millisecond
			h := startLB(t, cfg)
			conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, err = io.WriteString(conn, "POST /orders HTTP/1.1\r\nHost: lb\r\nContent-Type: application/json\r\n"+
				"Content-Length: "+strconv.Itoa(tt.size)+"\r\n\r\n{\"partial\":")
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(8 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer to a stalled body: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("status %d %s, want 408", resp.StatusCode, body)
			}
			if code, _ := apiError(t, body); code != codeRequestTimeout {
				t.Errorf("code %q", code)
			}
			if got := h.instances()["gw1"]; got.State != StateUp || got.InFlight != 0 {
				t.Errorf("gw1 %+v after a client's slow body, want up and idle", got)
			}
		})
	}
}

// TestSlowResponseOutlivesReadTimeout: ReadTimeout bounds reading the
// request, not waiting for the answer.
func TestSlowResponseOutlivesReadTimeout(t *testing.T) {
	for _, retry := range []bool{true, false} {
		cfg := passiveConfig(1)
		cfg.Retry = retry // with retry the body is buffered, else streamed
		cfg.ReadTimeout = 200 * time.Millisecond
		h := startLB(t, cfg)
		for _, body := range []string{"", `{"n":1}`} {
			var r io.Reader = http.NoBody
			if body != "" {
				r = strings.NewReader(body)
			}
			req, _ := http.NewRequest("POST", h.base+"/slow?ms=700", r)
			if resp, b := do(t, req); resp.StatusCode != 200 {
				t.Fatalf("retry=%v, body %q: %d %s, want 200", retry, body, resp.StatusCode, b)
			}
		}
		h.stop()
	}
}

// TestReviveMovesToFreshPortsWhenTaken: a port taken while the instance was
// dead does not stop its revive: after a few tries it moves to fresh ports.
func TestReviveMovesToFreshPortsWhenTaken(t *testing.T) {
	h := startLB(t, baseConfig(2)) // health checks bring the revived gw1 back
	old := h.instances()["gw1"]
	h.mustAdmin("POST", "/_lb/instances/gw1/kill?mode=sigkill", 200)
	thief, err := net.Listen("tcp", old.Address)
	if err != nil {
		t.Fatalf("take gw1's port: %v", err)
	}
	defer thief.Close()
	var info InstanceInfo
	if err := json.Unmarshal(h.mustAdmin("POST", "/_lb/instances/gw1/revive", 200), &info); err != nil {
		t.Fatal(err)
	}
	if info.Address == old.Address || info.AdminAddress == old.AdminAddress || info.PID == 0 {
		t.Fatalf("revived %+v, want fresh addresses (old %s is taken)", info, old.Address)
	}
	if rev, ok := findEvent(h.events(), EventRevive, "gw1", 0); !ok || !strings.Contains(rev.Reason, "fresh ports") {
		t.Errorf("revive event %+v does not say it moved", rev)
	}
	h.waitState("gw1", StateUp)
	seen := false
	for range 4 {
		resp, _, err := h.get("/x")
		if err != nil {
			t.Fatal(err)
		}
		seen = seen || resp.Header.Get(InstanceHeader) == "gw1"
	}
	if !seen {
		t.Error("gw1 on its new address got no request")
	}
}

// TestStartMovesChildWhosePortWasTaken: a child whose port was taken
// between reservation and bind is started again on other ports.
func TestStartMovesChildWhosePortWasTaken(t *testing.T) {
	thief, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Close()
	var calls atomic.Int32
	var mu sync.Mutex
	var addrs []string
	cfg := passiveConfig(1)
	cfg.Command = func(c Child) proc.Spec {
		mu.Lock()
		addrs = append(addrs, c.Addr)
		mu.Unlock()
		if calls.Add(1) == 1 {
			c.Addr = thief.Addr().String() // as if another process bound it first
		}
		return fakeCommand(c)
	}
	h := startLB(t, cfg)
	gw1 := h.instances()["gw1"]
	mu.Lock()
	defer mu.Unlock()
	if calls.Load() != 2 || gw1.Address != addrs[1] || addrs[0] == addrs[1] {
		t.Fatalf("%d starts on %v, gw1 at %s: want a second start on other ports", calls.Load(), addrs, gw1.Address)
	}
}
