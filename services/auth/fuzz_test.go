package auth

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authlab/authlab/internal/apierr"
	"github.com/authlab/authlab/internal/identity"
)

// FuzzVerifyBody feeds arbitrary bodies to POST /v1/verify: the handler must
// never panic, answer only 200, 400 or 401 with a JSON body, and answer 200
// only for a body naming a real user with the right password.
func FuzzVerifyBody(f *testing.F) {
	for _, s := range []string{
		`{"username":"user0001","password":"seed-password-1"}`,
		`{"username":"admin","password":"admin-password-1"}`,
		`{"username":"user0001","password":"wrong"}`,
		`{"username":"","password":""}`,
		`{"username":"user0001"}`,
		`{"username":1}`,
		`{"username":"a","password":"b","x":1}`,
		`{"username":"a","password":"b"} {}`,
		`{"username":"\u0000","password":"\ud800"}`,
		`null`, `[]`, `"x"`, ``, `{`, `{"username":"user0001","password":"seed-password-1"`,
	} {
		f.Add([]byte(s))
	}
	h := NewHandler(newTestDirectory(f), nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, VerifyPath, bytes.NewReader(body)))
		switch rec.Code {
		case http.StatusOK:
			var req VerifyRequest
			if err := json.Unmarshal(body, &req); err != nil {
				t.Fatalf("200 for a body encoding/json rejects: %q", body)
			}
			ok := (req.Username == "admin" && req.Password == testAdminPassword) ||
				(req.Username != "admin" && req.Password == testSeedPassword)
			if !ok {
				t.Fatalf("200 for %q", body)
			}
			var p identity.Principal
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.User != req.Username {
				t.Fatalf("200 body %q does not name %q: %v", rec.Body, req.Username, err)
			}
		case http.StatusBadRequest, http.StatusUnauthorized:
			var b apierr.Body
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error == "" {
				t.Fatalf("status %d with non-JSON error body %q", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}
