package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/authlab/authlab/internal/apierr"
	"github.com/authlab/authlab/internal/identity"
)

func TestVerifyEndpoint(t *testing.T) {
	h := NewHandler(newTestDirectory(t), nil)
	big := `{"username":"user0001","password":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   string   // apierr code for errors
		wantRoles  []string // for 200
	}{
		{"ok user", `{"username":"user0001","password":"seed-password-1"}`, 200, "", []string{"user"}},
		{"ok admin", `{"username":"admin","password":"admin-password-1"}`, 200, "", []string{"admin", "user"}},
		{"ok with whitespace", " \n{\"username\":\"user0002\",\"password\":\"seed-password-1\"}\n ", 200, "", []string{"user"}},
		{"wrong password", `{"username":"user0001","password":"wrong"}`, 401, apierr.CodeUnauthorized, nil},
		{"unknown user", `{"username":"nobody","password":"seed-password-1"}`, 401, apierr.CodeUnauthorized, nil},
		{"empty body", ``, 400, apierr.CodeBadRequest, nil},
		{"not json", `username=user0001&password=x`, 400, apierr.CodeBadRequest, nil},
		{"truncated json", `{"username":"user0001","password":`, 400, apierr.CodeBadRequest, nil},
		{"json array", `["user0001","seed-password-1"]`, 400, apierr.CodeBadRequest, nil},
		{"json null", `null`, 400, apierr.CodeBadRequest, nil},
		{"wrong types", `{"username":1,"password":true}`, 400, apierr.CodeBadRequest, nil},
		{"missing username", `{"password":"seed-password-1"}`, 400, apierr.CodeBadRequest, nil},
		{"missing password", `{"username":"user0001"}`, 400, apierr.CodeBadRequest, nil},
		{"empty fields", `{"username":"","password":""}`, 400, apierr.CodeBadRequest, nil},
		{"unknown field", `{"username":"user0001","password":"seed-password-1","role":"admin"}`, 400, apierr.CodeBadRequest, nil},
		{"two objects", `{"username":"user0001","password":"seed-password-1"}{}`, 400, apierr.CodeBadRequest, nil},
		{"trailing garbage", `{"username":"user0001","password":"seed-password-1"} x`, 400, apierr.CodeBadRequest, nil},
		{"oversize body", big, 400, apierr.CodeBadRequest, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, VerifyPath, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("Content-Type = %q, want JSON", ct)
			}
			if tt.wantStatus == http.StatusOK {
				var p identity.Principal
				if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
					t.Fatalf("decode 200 body %q: %v", rec.Body, err)
				}
				if !slices.Equal(p.Roles, tt.wantRoles) || p.User == "" {
					t.Fatalf("principal = %+v, want roles %v", p, tt.wantRoles)
				}
				return
			}
			var b apierr.Body
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatalf("decode error body %q: %v", rec.Body, err)
			}
			if b.Error != tt.wantCode || b.Message == "" {
				t.Fatalf("error body = %+v, want code %q with a message", b, tt.wantCode)
			}
		})
	}
}

// TestUnknownUserSameResponse: an unknown user and a wrong password must be
// indistinguishable in the response.
func TestUnknownUserSameResponse(t *testing.T) {
	h := NewHandler(newTestDirectory(t), nil)
	do := func(body string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, VerifyPath, strings.NewReader(body)))
		return rec.Code, rec.Body.String()
	}
	c1, b1 := do(`{"username":"user0001","password":"wrong"}`)
	c2, b2 := do(`{"username":"ghost","password":"wrong"}`)
	if c1 != c2 || b1 != b2 {
		t.Fatalf("wrong password → %d %q, unknown user → %d %q; want identical", c1, b1, c2, b2)
	}
}

func TestRoutes(t *testing.T) {
	h := NewHandler(newTestDirectory(t), nil)
	tests := []struct {
		method, path string
		wantStatus   int
		wantCode     string
	}{
		{http.MethodGet, "/healthz", 200, ""},
		{http.MethodHead, "/healthz", 200, ""},
		{http.MethodPost, "/healthz", 405, apierr.CodeBadRequest},
		{http.MethodGet, VerifyPath, 405, apierr.CodeBadRequest},
		{http.MethodPut, VerifyPath, 405, apierr.CodeBadRequest},
		{http.MethodGet, "/", 404, apierr.CodeNotFound},
		{http.MethodPost, "/v1/verify/extra", 404, apierr.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantCode == "" || tt.method == http.MethodHead {
				return
			}
			var b apierr.Body
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error != tt.wantCode {
				t.Fatalf("body = %q (%v), want JSON error %q", rec.Body, err, tt.wantCode)
			}
			if tt.wantStatus == 405 && rec.Header().Get("Allow") == "" {
				t.Fatal("405 without Allow header")
			}
		})
	}
}

type failingVerifier struct{ err error }

func (f failingVerifier) Verify(context.Context, string, string) (identity.Principal, error) {
	return identity.Principal{}, f.err
}

func TestVerifyInternalErrorIs503(t *testing.T) {
	h := newHandler(failingVerifier{errors.New("boom")}, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, VerifyPath, strings.NewReader(`{"username":"a","password":"b"}`)))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Fatal("internal error text leaked to the client")
	}
}
