package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authlab/authlab/internal/assertion"
)

// okTransport answers every backend request at once, in process.
type okTransport struct{}

func (okTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, Request: r,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(strings.NewReader(`{"ok":true}`)), ContentLength: 11}, nil
}

// BenchmarkAPIRequest is the gateway's own cost for an authenticated /api/
// request (strategy and backend stubbed): request id, metrics, stripping,
// assertion, proxying.
func BenchmarkAPIRequest(b *testing.B) {
	is, _ := assertion.NewIssuer(testKey, 0, nil)
	u, _ := url.Parse("http://backend.invalid")
	g, err := New(Config{InstanceID: "gw", Strategy: &fakeStrategy{}, Passwords: &fakePasswords{}, Backend: u,
		Assertions: is, AdminToken: "admin-token-0123456789", FingerprintKey: testKey, Logger: quiet, Transport: okTransport{}})
	if err != nil {
		b.Fatal(err)
	}
	h := g.Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/api/me", nil)
		req.Header.Set("Authorization", "Bearer good")
		req.Header.Set("X-Request-Id", "rid-from-the-lb-0001")
		rec := recorder{httptest.NewRecorder()}
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// recorder is an httptest.ResponseRecorder with the CloseNotify gin's
// writer asserts when ReverseProxy asks (a real server's writer has it).
type recorder struct{ *httptest.ResponseRecorder }

func (recorder) CloseNotify() <-chan bool { return nil }
