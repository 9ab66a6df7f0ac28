package gateway

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// TestAuthEndpointsAcceptOnlyJSON: an HTML form or text/plain cannot post
// to /auth/*.
func TestAuthEndpointsAcceptOnlyJSON(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Strategy = &refreshingStrategy{} })
	bodies := map[string]string{
		"/auth/login":   `{"username":"bob","password":"pw"}`,
		"/auth/logout":  `{}`,
		"/auth/refresh": `{"refresh_token":"fresh"}`,
	}
	tests := []struct {
		name, ct string
		want     int
	}{
		{"missing", "", 415},
		{"text/plain", "text/plain", 415},
		{"text/plain charset", "text/plain; charset=utf-8", 415},
		{"urlencoded form", "application/x-www-form-urlencoded", 415},
		{"multipart form", "multipart/form-data; boundary=x", 415},
		{"json-ish", "application/jsonx", 415},
		{"garbage", ";;;", 415},
		{"json", "application/json", 0},
		{"json charset", "application/json; charset=utf-8", 0},
		{"json upper case", "Application/JSON", 0},
	}
	for path, body := range bodies {
		for _, tt := range tests {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				resp, m := f.do(t, "POST", path, body, map[string]string{"Content-Type": tt.ct})
				if tt.want == 415 {
					if resp.StatusCode != 415 || m["error"] != codeUnsupportedMediaType || m["message"] == nil {
						t.Fatalf("Content-Type %q: %d %v, want 415 %s", tt.ct, resp.StatusCode, m, codeUnsupportedMediaType)
					}
					return
				}
				if resp.StatusCode >= 400 {
					t.Fatalf("Content-Type %q: %d %v, want success", tt.ct, resp.StatusCode, m)
				}
			})
		}
	}
	// Two Content-Type headers: refused, whichever comes first.
	req, _ := http.NewRequest("POST", f.gw.URL+"/auth/login", strings.NewReader(bodies["/auth/login"]))
	req.Header.Add("Content-Type", "application/json")
	req.Header.Add("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Fatalf("two Content-Type headers: %d, want 415", resp.StatusCode)
	}
}

func TestLogoutBody(t *testing.T) {
	f := newFixture(t)
	for body, want := range map[string]int{
		``:             204,
		`{}`:           204,
		" { } \n":      204,
		`{"all":true}`: 400,
		`[]`:           400,
		`{} {}`:        400,
		`{`:            400,
		`null`:         204, // JSON null into struct{}: nothing to refuse
	} {
		resp, m := f.do(t, "POST", "/auth/logout", body, map[string]string{"Authorization": "Bearer good"})
		if resp.StatusCode != want {
			t.Errorf("logout body %q: %d %v, want %d", body, resp.StatusCode, m, want)
		}
	}
}

// TestCrossSiteRefused: a state-changing request from another origin gets
// 403 on every strategy; same-origin, allowed origins, requests without
// Origin and safe methods pass.
func TestCrossSiteRefused(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.AllowedOrigins = []string{"https://app.example.com"} })
	own := f.gw.URL // http://127.0.0.1:port
	login := `{"username":"bob","password":"pw"}`
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		want                     int
	}{
		{"login no origin", "POST", "/auth/login", login, nil, 200},
		{"login own origin", "POST", "/auth/login", login, map[string]string{"Origin": own}, 200},
		{"login own origin upper case", "POST", "/auth/login", login, map[string]string{"Origin": strings.ToUpper(own)}, 200},
		{"login allowed origin", "POST", "/auth/login", login, map[string]string{"Origin": "https://app.example.com"}, 200},
		{"login allowed origin default port", "POST", "/auth/login", login, map[string]string{"Origin": "https://app.example.com:443"}, 200},
		{"login same-origin fetch", "POST", "/auth/login", login, map[string]string{"Origin": own, "Sec-Fetch-Site": "same-origin"}, 200},
		{"login foreign origin", "POST", "/auth/login", login, map[string]string{"Origin": "https://evil.example"}, 403},
		{"login own host other scheme", "POST", "/auth/login", login, map[string]string{"Origin": strings.Replace(own, "http:", "https:", 1)}, 403},
		{"login own host other port", "POST", "/auth/login", login, map[string]string{"Origin": "http://127.0.0.1:1"}, 403},
		{"login null origin", "POST", "/auth/login", login, map[string]string{"Origin": "null"}, 403},
		{"login cross-site fetch", "POST", "/auth/login", login, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"login cross-site fetch, own origin", "POST", "/auth/login", login, map[string]string{"Origin": own, "Sec-Fetch-Site": "cross-site"}, 403},
		{"logout foreign origin", "POST", "/auth/logout", ``, map[string]string{"Origin": "https://evil.example", "Authorization": "Bearer good"}, 403},
		{"refresh foreign origin", "POST", "/auth/refresh", `{"refresh_token":"x"}`, map[string]string{"Origin": "https://evil.example"}, 403},
		{"api POST foreign origin", "POST", "/api/orders", `{}`, map[string]string{"Origin": "https://evil.example", "Authorization": "Bearer good"}, 403},
		{"api DELETE cross-site", "DELETE", "/api/orders/1", ``, map[string]string{"Sec-Fetch-Site": "cross-site", "Authorization": "Bearer good"}, 403},
		{"api GET foreign origin", "GET", "/api/me", ``, map[string]string{"Origin": "https://evil.example", "Authorization": "Bearer good"}, 200},
		{"api POST own origin", "POST", "/api/orders", `{}`, map[string]string{"Origin": own, "Authorization": "Bearer good"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, m := f.do(t, tt.method, tt.path, tt.body, tt.hdr)
			if resp.StatusCode != tt.want {
				t.Fatalf("%d %v, want %d", resp.StatusCode, m, tt.want)
			}
			if tt.want == 403 && (m["error"] != "forbidden" || m["message"] == nil) {
				t.Fatalf("403 body = %v", m)
			}
		})
	}
	if n := f.g.cfg.Passwords.(*fakePasswords).checked.Load(); n != 6 {
		t.Fatalf("%d passwords checked, want 6 (only the admitted logins)", n)
	}
}

// TestOwnOriginBehindTrustedProxy: a TLS-terminating proxy's
// X-Forwarded-Proto and -Host define the origin, but only from a trusted
// peer.
func TestOwnOriginBehindTrustedProxy(t *testing.T) {
	login := `{"username":"bob","password":"pw"}`
	hdr := map[string]string{"Origin": "https://auth.example.com", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "auth.example.com"}
	untrusted := newFixture(t)
	if resp, _ := untrusted.do(t, "POST", "/auth/login", login, hdr); resp.StatusCode != 403 {
		t.Fatalf("forwarded headers from an untrusted peer believed: %d", resp.StatusCode)
	}
	trusted := newFixture(t, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	if resp, m := trusted.do(t, "POST", "/auth/login", login, hdr); resp.StatusCode != 200 {
		t.Fatalf("behind a trusted proxy: %d %v, want 200", resp.StatusCode, m)
	}
}

// TestDuplicateKeysRefused: encoding/json keeps the last of duplicate keys
// (and matches names case-insensitively); the gateway refuses the body.
func TestDuplicateKeysRefused(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Strategy = &refreshingStrategy{} })
	for _, tt := range []struct{ path, body string }{
		{"/auth/login", `{"username":"bob","username":"admin","password":"pw"}`},
		{"/auth/login", `{"username":"bob","USERNAME":"admin","password":"pw"}`},
		{"/auth/login", `{"username":"bob","password":"x","\u0070assword":"pw"}`},
		{"/auth/refresh", `{"refresh_token":"nope","refresh_token":"fresh"}`},
		{"/auth/login", `{"username":"bob","password":"pw","extra":1}`},
	} {
		resp, m := f.do(t, "POST", tt.path, tt.body, nil)
		if resp.StatusCode != 400 || m["error"] != "bad_request" {
			t.Errorf("%s %s: %d %v, want 400", tt.path, tt.body, resp.StatusCode, m)
		}
	}
}

func TestCheckJSON(t *testing.T) {
	for body, ok := range map[string]bool{
		`{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}`: true,
		`{"a":{"b":1,"b":2}}`:                       false,
		`{"a":[{"b":1,"B":2}]}`:                     false,
		`{"a":1,"\u0061":2}`:                        false,
		`[{"a":1},{"a":1}]`:                         true,
		`{"a":{}, "b":{}}`:                          true,
		`{"a":1} {"a":2}`:                           false,
		`{"a":`:                                     false,
		`"just a string"`:                           true,
	} {
		if err := checkJSON([]byte(body)); (err == nil) != ok {
			t.Errorf("checkJSON(%s) = %v, want ok=%v", body, err, ok)
		}
	}
}
