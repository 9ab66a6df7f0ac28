package gateway

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/authlab/authlab/internal/requestid"
	"github.com/authlab/authlab/strategies"
)

// auditLine finds the one audit line with event and request id.
func auditLine(t *testing.T, f *fixture, event, rid string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, l := range f.audit.lines(t) {
		if l["event"] == event && l["request_id"] == rid {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d audit lines for %s %s, want 1:\n%s", len(found), event, rid, f.audit.String())
	}
	return found[0]
}

// TestAuditTrail: one JSON line per login (success, failure, throttled),
// logout, refresh, refresh-token reuse and revocation, with user, instance,
// client address, credential fingerprint (never the credential) and
// request id.
func TestAuditTrail(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Strategy = &refreshingStrategy{} })
	fp := strategies.NewFingerprinter(testKey)
	rid := func(s string) map[string]string { return map[string]string{requestid.Header: s} }
	with := func(h map[string]string, k, v string) map[string]string { h[k] = v; return h }

	f.do(t, "POST", "/auth/login", `{"username":"bob","password":"pw"}`, rid("r-login-ok"))
	f.do(t, "POST", "/auth/login", `{"username":"bob","password":"nope"}`, rid("r-login-bad"))
	for i := range 6 {
		f.do(t, "POST", "/auth/login", `{"username":"mallory","password":"nope"}`, rid(fmt.Sprintf("r-guess-%d", i)))
	}
	f.do(t, "POST", "/auth/logout", "", with(rid("r-logout"), "Authorization", "Bearer good"))
	f.do(t, "POST", "/auth/refresh", `{"refresh_token":"fresh"}`, rid("r-refresh"))
	f.do(t, "POST", "/auth/refresh", `{"refresh_token":"spent"}`, rid("r-reuse"))

	tests := []struct {
		event, rid string
		want       map[string]any
	}{
		{"login", "r-login-ok", map[string]any{"user": "bob", "outcome": "success", "credential_fp": fp.Short("good")}},
		{"login", "r-login-bad", map[string]any{"user": "bob", "outcome": "failure"}},
		{"login", "r-guess-4", map[string]any{"user": "mallory", "outcome": "failure"}},
		{"login", "r-guess-5", map[string]any{"user": "mallory", "outcome": "throttled"}},
		{"logout", "r-logout", map[string]any{"user": "alice", "outcome": "success", "credential_fp": fp.Short("good")}},
		{"refresh", "r-refresh", map[string]any{"user": "alice", "outcome": "success", "credential_fp": fp.Short("fresh")}},
		{"refresh_reuse", "r-reuse", map[string]any{"outcome": "reused", "credential_fp": fp.Short("spent")}},
		{"revocation", "r-reuse", map[string]any{"outcome": "success", "credential_fp": fp.Short("spent")}},
	}
	for _, tt := range tests {
		l := auditLine(t, f, tt.event, tt.rid)
		if l["instance"] != "gw-test" || l["client_addr"] != "127.0.0.1" {
			t.Errorf("%s %s: instance %v client %v", tt.event, tt.rid, l["instance"], l["client_addr"])
		}
		for k, v := range tt.want {
			if l[k] != v {
				t.Errorf("%s %s: %s = %v, want %v", tt.event, tt.rid, k, l[k], v)
			}
		}
	}
	for _, raw := range []string{`"good"`, `"fresh"`, `"spent"`, `"pw"`, "nope"} {
		if strings.Contains(f.audit.String(), raw) || strings.Contains(f.logs.String(), raw) {
			t.Errorf("a raw credential or password (%s) is in the audit trail or the logs", raw)
		}
	}
	if got := metricValue(t, f.scrape(t), "authlab_gateway_refreshes_total", `outcome="reused"`); got != 1 {
		t.Errorf("reused refreshes metric = %v, want 1", got)
	}
}

// TestRequestID: a valid incoming X-Request-Id is kept, echoed, forwarded
// to the backend and carried by the gateway's log lines; an unusable one is
// replaced by a fresh id.
func TestRequestID(t *testing.T) {
	f := newFixture(t)
	resp, _ := f.do(t, "GET", "/api/me", "", map[string]string{"Authorization": "Bearer good", requestid.Header: "rid-from-lb.1"})
	if got := resp.Header.Get(requestid.Header); got != "rid-from-lb.1" {
		t.Fatalf("echoed %q", got)
	}
	if got := (<-f.seen).Get(requestid.Header); got != "rid-from-lb.1" {
		t.Fatalf("backend got %q", got)
	}
	resp, _ = f.do(t, "GET", "/api/me", "", map[string]string{"Authorization": "Bearer good", requestid.Header: "has space"})
	fresh := resp.Header.Get(requestid.Header)
	if !requestid.Valid(fresh) || fresh == "has space" {
		t.Fatalf("unusable id not replaced: %q", fresh)
	}
	if got := (<-f.seen).Get(requestid.Header); got != fresh {
		t.Fatalf("backend got %q, client was told %q", got, fresh)
	}
	// A request without any id gets one too, and its warning carries it.
	resp, _ = f.do(t, "GET", "/api/me", "", map[string]string{"Authorization": "Bearer down"})
	id := resp.Header.Get(requestid.Header)
	if !requestid.Valid(id) {
		t.Fatalf("no request id on a 503: %q", id)
	}
	var warned bool
	for _, l := range f.logs.lines(t) {
		if l["request_id"] == nil && l["msg"] != "listening" {
			t.Errorf("gateway log line without request_id: %v", l)
		}
		if l["msg"] == "credential store unavailable" && l["request_id"] == id {
			warned = true
		}
	}
	if !warned {
		t.Fatalf("no warning line with request id %s:\n%s", id, f.logs.String())
	}
}

func TestClientAddr(t *testing.T) {
	loopback := proxyTrust{[]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	tests := []struct {
		name   string
		trust  proxyTrust
		remote string
		xff    []string
		want   string
	}{
		{"no trust: peer, whatever XFF says", proxyTrust{}, "127.0.0.1:5000", []string{"203.0.113.9"}, "127.0.0.1"},
		{"untrusted peer: XFF ignored", loopback, "198.51.100.2:5000", []string{"203.0.113.9"}, "198.51.100.2"},
		{"trusted peer, no XFF", loopback, "127.0.0.1:5000", nil, "127.0.0.1"},
		{"trusted peer, one hop", loopback, "127.0.0.1:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"client-forged left entries ignored", loopback, "127.0.0.1:5000", []string{"6.6.6.6, 203.0.113.9"}, "203.0.113.9"},
		{"two trusted hops", loopback, "127.0.0.1:5000", []string{"203.0.113.9, 127.0.0.2"}, "203.0.113.9"},
		{"several headers", loopback, "127.0.0.1:5000", []string{"6.6.6.6", "203.0.113.9"}, "203.0.113.9"},
		{"garbage stops the walk", loopback, "127.0.0.1:5000", []string{"203.0.113.9, not-an-ip"}, "127.0.0.1"},
		{"ipv6 peer", loopback, "[::1]:5000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"4in6 peer", loopback, "[::ffff:127.0.0.1]:5000", []string{"203.0.113.9"}, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tt.trust.clientAddr(r); got != tt.want {
				t.Fatalf("clientAddr = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAuditClientBehindTrustedProxy: end to end, the audit line names the
// forwarded client only when the peer is trusted.
func TestAuditClientBehindTrustedProxy(t *testing.T) {
	hdr := map[string]string{"X-Forwarded-For": "203.0.113.9", requestid.Header: "r-xff"}
	login := `{"username":"bob","password":"pw"}`
	untrusted := newFixture(t)
	untrusted.do(t, "POST", "/auth/login", login, hdr)
	if got := auditLine(t, untrusted, "login", "r-xff")["client_addr"]; got != "127.0.0.1" {
		t.Fatalf("untrusted peer's X-Forwarded-For believed: %v", got)
	}
	trusted := newFixture(t, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	trusted.do(t, "POST", "/auth/login", login, hdr)
	if got := auditLine(t, trusted, "login", "r-xff")["client_addr"]; got != "203.0.113.9" {
		t.Fatalf("trusted proxy's X-Forwarded-For ignored: %v", got)
	}
}

// TestIdentityHeadersStrippedByNormalisedName sends raw header names over
// a real connection, as a client would (net/http keeps names with '_' as
// sent), and checks that none reaches the backend under any spelling.
func TestIdentityHeadersStrippedByNormalisedName(t *testing.T) {
	f := newFixture(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hostile := []string{
		"X_Authlab_User", "x_authlab_roles", "X-AUTHLAB-ASSERTION", "x-remote_user", "X_Remote_User",
		"X-USER", "x_user", "X_Forwarded_User", "x-forwarded_email", "X_Auth_Request_User", "Remote_User",
		"X_Roles", "Cookie",
	}
	var b strings.Builder
	b.WriteString("GET /api/me HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer good\r\nConnection: close\r\nX-Keep_Me: yes\r\n")
	for _, h := range hostile {
		b.WriteString(h + ": admin\r\n")
	}
	b.WriteString("\r\n")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	seen := <-f.seen
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }
	for name := range seen {
		n := norm(name)
		for _, bad := range []string{"x-authlab-user", "x-authlab-roles", "x-remote-user", "x-user", "x-forwarded-user",
			"x-forwarded-email", "x-auth-request-user", "remote-user", "x-roles", "authorization", "cookie"} {
			if n == bad {
				t.Errorf("backend received %q (a spelling of %s)", name, bad)
			}
		}
	}
	if len(seen.Values("X-Keep_me")) == 0 && len(seen["X-Keep_Me"]) == 0 {
		t.Errorf("unrelated header dropped: %v", seen)
	}
}
