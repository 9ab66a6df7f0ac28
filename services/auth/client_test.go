package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/authlab/authlab/internal/apierr"
)

func TestClientAgainstService(t *testing.T) {
	srv := httptest.NewServer(NewHandler(newTestDirectory(t), nil))
	t.Cleanup(srv.Close)
	c := NewClient(srv.URL+"/", srv.Client()) // trailing slash is tolerated
	tests := []struct {
		name      string
		user, pw  string
		wantRoles []string
		wantErr   error
	}{
		{"ok", "user0003", testSeedPassword, []string{"user"}, nil},
		{"admin", "admin", testAdminPassword, []string{"admin", "user"}, nil},
		{"wrong password", "user0003", "nope", nil, ErrInvalidLogin},
		{"unknown user", "ghost", testSeedPassword, nil, ErrInvalidLogin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := c.Verify(context.Background(), tt.user, tt.pw)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.User != tt.user || !slices.Equal(p.Roles, tt.wantRoles) {
				t.Fatalf("principal = %+v", p)
			}
		})
	}
}

func TestClientErrorMapping(t *testing.T) {
	status := func(code int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if body == "" {
				apierr.Write(w, code, "x", "some message")
				return
			}
			w.WriteHeader(code)
			_, _ = w.Write([]byte(body))
		}
	}
	tests := []struct {
		name             string
		handler          http.HandlerFunc
		wantInvalidLogin bool
		wantUnavailable  bool
	}{
		{"401", status(401, ""), true, false},
		{"500", status(500, ""), false, true},
		{"503", status(503, ""), false, true},
		{"502 non-json", status(502, "upstream down"), false, true},
		{"400 is neither", status(400, ""), false, false},
		{"403 is neither", status(403, ""), false, false},
		{"200 with garbage", status(200, "not json"), false, false},
		{"200 without user", status(200, `{"roles":["admin"]}`), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			_, err := NewClient(srv.URL, nil).Verify(context.Background(), "u", "p")
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, ErrInvalidLogin); got != tt.wantInvalidLogin {
				t.Errorf("errors.Is(%v, ErrInvalidLogin) = %v", err, got)
			}
			if got := errors.Is(err, ErrUnavailable); got != tt.wantUnavailable {
				t.Errorf("errors.Is(%v, ErrUnavailable) = %v", err, got)
			}
		})
	}
}

func TestClientServerClosed(t *testing.T) {
	srv := httptest.NewServer(NewHandler(newTestDirectory(t), nil))
	url := srv.URL
	srv.Close()
	_, err := NewClient(url, nil).Verify(context.Background(), "user0001", testSeedPassword)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if errors.Is(err, ErrInvalidLogin) {
		t.Fatal("unreachable service reported as bad credentials")
	}
}

func TestClientCanceledContext(t *testing.T) {
	srv := httptest.NewServer(NewHandler(newTestDirectory(t), nil))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := NewClient(srv.URL, nil).Verify(ctx, "user0001", testSeedPassword)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want ErrUnavailable wrapping context.Canceled", err)
	}
}
