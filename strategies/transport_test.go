package strategies

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSessionCookieName(t *testing.T) {
	tests := []struct {
		name   string
		secure bool
		want   string
	}{
		{"sid", false, "sid"},
		{"sid", true, "__Host-sid"},
		{"__Host-sid", true, "__Host-sid"}, // idempotent
		{"__Host-sid", false, "__Host-sid"},
	}
	for _, tc := range tests {
		if got := SessionCookieName(tc.name, tc.secure); got != tc.want {
			t.Errorf("SessionCookieName(%q, %v) = %q, want %q", tc.name, tc.secure, got, tc.want)
		}
	}
}

// TestCookieTransportSetCookie: the Set-Cookie of Write and Clear has the
// __Host- prefix exactly when Secure, and always Path=/ and no Domain (what
// a browser requires of a __Host- cookie).
func TestCookieTransportSetCookie(t *testing.T) {
	tests := []struct {
		secure   bool
		wantName string
	}{
		{false, "sid"},
		{true, "__Host-sid"},
	}
	for _, tc := range tests {
		tr := TransportFor(Capabilities{Transport: TransportCookie, CookieName: "sid"}, tc.secure)
		for op, write := range map[string]func(http.ResponseWriter){
			"Write": func(w http.ResponseWriter) {
				tr.Write(w, Credential{Token: "tok", ExpiresAt: time.Now().Add(time.Hour)})
			},
			"Clear": tr.Clear,
		} {
			rec := httptest.NewRecorder()
			write(rec)
			raw := rec.Header().Values("Set-Cookie")
			if len(raw) != 1 {
				t.Fatalf("secure=%v %s: Set-Cookie = %q, want one", tc.secure, op, raw)
			}
			c := rec.Result().Cookies()[0]
			if c.Name != tc.wantName || c.Secure != tc.secure || c.Path != "/" || c.Domain != "" ||
				!c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("secure=%v %s: cookie = %+v (raw %q)", tc.secure, op, c, raw[0])
			}
			if strings.Contains(strings.ToLower(raw[0]), "domain=") {
				t.Errorf("secure=%v %s: Set-Cookie carries a Domain: %q", tc.secure, op, raw[0])
			}
		}
	}
}

// TestCookieTransportExtract: when Secure only the prefixed cookie is read;
// an unprefixed one (plantable by a subdomain or over plain HTTP) is not
// accepted.
func TestCookieTransportExtract(t *testing.T) {
	tests := []struct {
		name    string
		secure  bool
		cookies string
		want    string
	}{
		{"plain, unprefixed", false, "sid=a", "a"},
		{"plain ignores prefixed", false, "__Host-sid=b", ""},
		{"secure, prefixed", true, "__Host-sid=b", "b"},
		{"secure refuses unprefixed", true, "sid=a", ""},
		{"secure picks prefixed among both", true, "sid=a; __Host-sid=b", "b"},
		{"none", true, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.cookies != "" {
				r.Header.Set("Cookie", tc.cookies)
			}
			tr := CookieTransport{Name: "sid", Secure: tc.secure}
			if got := tr.Extract(r); got != tc.want {
				t.Fatalf("Extract = %q, want %q", got, tc.want)
			}
		})
	}
}
