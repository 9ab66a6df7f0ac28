package backend

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/apierr"
	"github.com/authlab/authlab/internal/assertion"
	"github.com/authlab/authlab/internal/identity"
)

var (
	testKey  = []byte("0123456789abcdef0123456789abcdef")
	otherKey = []byte("fedcba9876543210fedcba9876543210")
	userP    = identity.Principal{User: "user0001", Roles: []string{"user"}}
	adminP   = identity.Principal{User: "admin", Roles: []string{"admin", "user"}}
)

// fixture is a backend with a settable clock and an issuer sharing its key.
type fixture struct {
	h   http.Handler
	now time.Time
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{now: time.Unix(1_800_000_000, 0)}
	h, err := New(Config{AssertionKey: testKey, Now: func() time.Time { return f.now }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

func (f *fixture) issue(t testing.TB, key []byte, p identity.Principal) string {
	t.Helper()
	is, err := assertion.NewIssuer(key, assertion.DefaultTTL, func() time.Time { return f.now })
	if err != nil {
		t.Fatal(err)
	}
	tok, err := is.Issue(p)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) do(method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var b apierr.Body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q is not JSON: %v", rec.Body, err)
	}
	return b.Error
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		key   []byte
		valid bool
	}{
		{"nil key", nil, false},
		{"short key", []byte("short"), false},
		{"31 bytes", testKey[:31], false},
		{"32 bytes", testKey, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{AssertionKey: tt.key}
			if err := cfg.Validate(); (err == nil) != tt.valid {
				t.Fatalf("Validate() = %v, valid %v", err, tt.valid)
			}
			if _, err := New(cfg, nil); (err == nil) != tt.valid {
				t.Fatalf("New() = %v, valid %v", err, tt.valid)
			}
		})
	}
}

func TestAccess(t *testing.T) {
	f := newFixture(t)
	userTok := f.issue(t, testKey, userP)
	adminTok := f.issue(t, testKey, adminP)
	forged := f.issue(t, otherKey, adminP)
	noRoles := f.issue(t, testKey, identity.Principal{User: "guest"})
	// alg "none" with admin claims and an empty signature.
	algNone := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." +
		"eyJyb2xlcyI6WyJhZG1pbiJdLCJpc3MiOiJhdXRobGFiLWdhdGV3YXkiLCJzdWIiOiJhZG1pbiIsImF1ZCI6WyJhdXRobGFiLXNlcnZpY2VzIl0sImV4cCI6OTk5OTk5OTk5OX0."
	// The user's valid token with its signature cut off.
	stripped := userTok[:strings.LastIndexByte(userTok, '.')+1]

	a := func(tok string) map[string]string { return map[string]string{assertion.Header: tok} }
	spoof := map[string]string{"X-Authlab-User": "admin", "X-Authlab-Roles": "admin", "X-Forwarded-User": "admin"}
	userSpoofing := a(userTok)
	for k, v := range spoof {
		userSpoofing[k] = v
	}

	tests := []struct {
		name       string
		method     string
		path       string
		hdr        map[string]string
		wantStatus int
		wantCode   string
	}{
		{"healthz needs nothing", "GET", "/healthz", nil, 200, ""},
		{"no assertion me", "GET", "/api/me", nil, 401, apierr.CodeUnauthorized},
		{"no assertion orders", "GET", "/api/orders", nil, 401, apierr.CodeUnauthorized},
		{"no assertion stats", "GET", "/api/admin/stats", nil, 401, apierr.CodeUnauthorized},
		{"no assertion unknown path", "GET", "/api/nope", nil, 401, apierr.CodeUnauthorized},
		{"spoofed headers only", "GET", "/api/admin/stats", spoof, 401, apierr.CodeUnauthorized},
		{"garbage assertion", "GET", "/api/me", a("not-a-jwt"), 401, apierr.CodeUnauthorized},
		{"forged assertion", "GET", "/api/admin/stats", a(forged), 401, apierr.CodeUnauthorized},
		{"alg none", "GET", "/api/admin/stats", a(algNone), 401, apierr.CodeUnauthorized},
		{"signature stripped", "GET", "/api/me", a(stripped), 401, apierr.CodeUnauthorized},
		{"oversize assertion", "GET", "/api/me", a(strings.Repeat("a", assertion.MaxLen+1)), 401, apierr.CodeUnauthorized},
		{"bearer instead of assertion", "GET", "/api/me", map[string]string{"Authorization": "Bearer " + userTok}, 401, apierr.CodeUnauthorized},
		{"user me", "GET", "/api/me", a(userTok), 200, ""},
		{"user orders", "GET", "/api/orders", a(userTok), 200, ""},
		{"user stats forbidden", "GET", "/api/admin/stats", a(userTok), 403, apierr.CodeForbidden},
		{"user with spoofed admin headers", "GET", "/api/admin/stats", userSpoofing, 403, apierr.CodeForbidden},
		{"no roles orders forbidden", "GET", "/api/orders", a(noRoles), 403, apierr.CodeForbidden},
		{"admin stats", "GET", "/api/admin/stats", a(adminTok), 200, ""},
		{"admin orders", "GET", "/api/orders", a(adminTok), 200, ""},
		{"unknown api path", "GET", "/api/nope", a(userTok), 404, apierr.CodeNotFound},
		{"unknown admin path", "GET", "/api/admin/other", a(adminTok), 404, apierr.CodeNotFound},
		{"non-api path", "GET", "/nope", nil, 404, apierr.CodeNotFound},
		{"wrong method", "POST", "/api/me", a(userTok), 405, apierr.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.do(tt.method, tt.path, tt.hdr)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Fatalf("Content-Type = %q, want JSON", rec.Header().Get("Content-Type"))
			}
			if tt.wantCode != "" {
				if got := errorCode(t, rec); got != tt.wantCode {
					t.Fatalf("error code = %q, want %q", got, tt.wantCode)
				}
			}
		})
	}
}

func TestExpiredAssertion(t *testing.T) {
	f := newFixture(t)
	tok := f.issue(t, testKey, userP)
	hdr := map[string]string{assertion.Header: tok}
	if rec := f.do("GET", "/api/me", hdr); rec.Code != 200 {
		t.Fatalf("fresh assertion: status %d", rec.Code)
	}
	f.now = f.now.Add(assertion.DefaultTTL + 2*time.Second) // past expiry and leeway
	if rec := f.do("GET", "/api/me", hdr); rec.Code != 401 {
		t.Fatalf("expired assertion: status %d, want 401", rec.Code)
	}
}

func TestMeReturnsAssertionIdentity(t *testing.T) {
	f := newFixture(t)
	for _, p := range []identity.Principal{userP, adminP, {User: "someone-else", Roles: []string{"user", "auditor"}}} {
		rec := f.do("GET", "/api/me", map[string]string{
			assertion.Header: f.issue(t, testKey, p),
			"X-Authlab-User": "admin", // ignored
		})
		var got identity.Principal
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.User != p.User || !slices.Equal(got.Roles, p.Roles) {
			t.Fatalf("/api/me = %+v, want %+v", got, p)
		}
	}
	// No roles in the assertion: an empty list, not null.
	rec := f.do("GET", "/api/me", map[string]string{assertion.Header: f.issue(t, testKey, identity.Principal{User: "guest"})})
	if !strings.Contains(rec.Body.String(), `"roles":[]`) {
		t.Fatalf("/api/me without roles = %s, want \"roles\":[]", rec.Body)
	}
}

func TestOrders(t *testing.T) {
	f := newFixture(t)
	get := func(p identity.Principal) OrdersResponse {
		rec := f.do("GET", "/api/orders", map[string]string{assertion.Header: f.issue(t, testKey, p)})
		var r OrdersResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	a1, a2 := get(userP), get(userP)
	if a1.User != userP.User || len(a1.Orders) < 1 || len(a1.Orders) > 3 {
		t.Fatalf("orders = %+v", a1)
	}
	if !reflect.DeepEqual(a1, a2) {
		t.Fatalf("orders not deterministic: %+v vs %+v", a1, a2)
	}
	for _, o := range a1.Orders {
		if o.ID == "" || o.Item == "" || o.Quantity < 1 || o.AmountCents <= 0 {
			t.Fatalf("bad order %+v", o)
		}
	}
	// Different users do not all get the same list.
	distinct := map[string]bool{}
	for i := range 20 {
		p := identity.Principal{User: "user" + string(rune('a'+i)), Roles: []string{"user"}}
		b, _ := json.Marshal(get(p).Orders)
		distinct[string(b)] = true
	}
	if len(distinct) < 10 {
		t.Fatalf("only %d distinct order lists for 20 users", len(distinct))
	}
}

func TestAdminStatsCounts(t *testing.T) {
	f := newFixture(t)
	user := map[string]string{assertion.Header: f.issue(t, testKey, userP)}
	admin := map[string]string{assertion.Header: f.issue(t, testKey, adminP)}
	f.do("GET", "/api/me", user)
	f.do("GET", "/api/me", user)
	f.do("GET", "/api/orders", user)
	f.do("GET", "/api/admin/stats", user) // 403
	f.do("GET", "/api/me", nil)           // 401
	f.do("GET", "/api/nope", user)        // 404
	f.do("GET", "/healthz", nil)          // not counted
	f.now = f.now.Add(5 * time.Second)
	rec := f.do("GET", "/api/admin/stats", admin)
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	var st Stats
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	var want Stats
	want.UptimeSeconds = 5
	want.Requests.Total = 7
	want.Requests.Me = 2
	want.Requests.Orders = 1
	want.Requests.AdminStats = 2
	want.Requests.NotFound = 1
	want.Rejected.Unauthorized = 1
	want.Rejected.Forbidden = 1
	if st != want {
		t.Fatalf("stats = %+v, want %+v", st, want)
	}
}

func TestOrdersForDeterministic(t *testing.T) {
	if !reflect.DeepEqual(OrdersFor("user0042"), OrdersFor("user0042")) {
		t.Fatal("OrdersFor not deterministic")
	}
	if len(OrdersFor("")) == 0 {
		t.Fatal("no orders for empty name")
	}
}

// discardWriter is a minimal ResponseWriter so the benchmark measures the
// handler, not a recorder.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkBackendMe: assertion verification (HS256) plus the /api/me
// handler, per request.
func BenchmarkBackendMe(b *testing.B) {
	f := newFixture(b)
	req := httptest.NewRequest("GET", "/api/me", nil)
	req.Header.Set(assertion.Header, f.issue(b, testKey, userP))
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d", rec.Code)
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		f.h.ServeHTTP(w, req)
	}
}
