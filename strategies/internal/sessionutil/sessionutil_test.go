package sessionutil

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/authlab/authlab/internal/identity"
)

func TestNewIDIsValidAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id, err := NewID()
		if err != nil {
			t.Fatal(err)
		}
		if !ValidID(id) {
			t.Fatalf("NewID() = %q is not ValidID", id)
		}
		if b, err := base64.RawURLEncoding.Strict().DecodeString(id); err != nil || len(b) != IDBytes {
			t.Fatalf("NewID() = %q decodes to %d bytes, %v", id, len(b), err)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestValidID(t *testing.T) {
	good := base64.RawURLEncoding.EncodeToString(make([]byte, IDBytes)) // "AAAA...A"
	tests := []struct {
		name string
		raw  string
		want bool
	}{
		{"canonical zero id", good, true},
		{"empty", "", false},
		{"one short", good[:IDLen-1], false},
		{"one long", good + "A", false},
		{"padding", good[:IDLen-1] + "=", false},
		{"std alphabet plus", "+" + good[1:], false},
		{"std alphabet slash", "/" + good[1:], false},
		{"space", " " + good[1:], false},
		{"non-canonical last char", good[:IDLen-1] + "B", false},
		{"canonical last char E", good[:IDLen-1] + "E", true},
		{"utf8", "é" + good[2:], false},
		{"nul", "\x00" + good[1:], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidID(tc.raw); got != tc.want {
				t.Fatalf("ValidID(%q) = %v, want %v", tc.raw, got, tc.want)
			}
			// ValidID must agree with a strict decoder on every accepted value.
			if tc.want {
				if _, err := base64.RawURLEncoding.Strict().DecodeString(tc.raw); err != nil {
					t.Fatalf("accepted %q but strict decode fails: %v", tc.raw, err)
				}
			}
		})
	}
}

func TestValidateCookieName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr bool
	}{
		{DefaultCookieName, false},
		{"", true},
		{"a b", true},
		{"a;b", true},
		{"a=b", true},
		{"__Host-sid", true},
		{"__host-sid", true},
		{"__Secure-sid", true},
		{"_Host-sid", false},
	}
	for _, tc := range tests {
		if err := ValidateCookieName(tc.name); (err != nil) != tc.wantErr {
			t.Errorf("ValidateCookieName(%q) = %v, wantErr %v", tc.name, err, tc.wantErr)
		}
	}
}

func TestStoreCookie(t *testing.T) {
	opts := StoreOptions(60, false)
	opts.Domain, opts.Path = "example.com", "/app" // what a caller might set
	tests := []struct {
		secure               bool
		wantName, wantDomain string
		wantPath             string
	}{
		{false, "sid", "example.com", "/app"},
		{true, "__Host-sid", "", "/"},
	}
	for _, tc := range tests {
		c := StoreCookie("sid", "v", &opts, tc.secure)
		if c.Name != tc.wantName || c.Secure != tc.secure || c.Domain != tc.wantDomain || c.Path != tc.wantPath || c.MaxAge != 60 {
			t.Errorf("secure=%v: cookie = %+v", tc.secure, c)
		}
	}
	if o := StoreOptions(5, true); o.Path != "/" || o.Domain != "" || !o.Secure || !o.HttpOnly || o.SameSite != http.SameSiteLaxMode || o.MaxAge != 5 {
		t.Errorf("StoreOptions = %+v", o)
	}
}

func TestPrincipalRoundTrip(t *testing.T) {
	p := identity.Principal{User: "alice", Roles: []string{"user", "admin"}}
	v := map[any]any{}
	SetPrincipal(v, p)
	p.Roles[0] = "mutated"
	got, err := PrincipalFrom(v)
	if err != nil {
		t.Fatal(err)
	}
	if got.User != "alice" || !slices.Equal(got.Roles, []string{"user", "admin"}) {
		t.Fatalf("PrincipalFrom = %+v (SetPrincipal must copy roles)", got)
	}
	got.Roles[0] = "mutated"
	again, _ := PrincipalFrom(v)
	if again.Roles[0] != "user" {
		t.Fatal("PrincipalFrom must return a copy of the roles")
	}
}

func TestPrincipalFromCorrupt(t *testing.T) {
	tests := map[string]map[any]any{
		"empty":        {},
		"empty user":   {KeyUser: ""},
		"user not str": {KeyUser: 42},
		"roles wrong":  {KeyUser: "a", KeyRoles: []any{"x"}},
	}
	for name, v := range tests {
		if _, err := PrincipalFrom(v); !errors.Is(err, ErrCorruptSession) {
			t.Errorf("%s: err = %v, want ErrCorruptSession", name, err)
		}
	}
	if p, err := PrincipalFrom(map[any]any{KeyUser: "a"}); err != nil || p.User != "a" || p.Roles != nil {
		t.Errorf("no roles: %+v, %v", p, err)
	}
}

type ctxKey struct{}

func TestRequestAndResponseWriter(t *testing.T) {
	ctx := context.WithValue(context.Background(), ctxKey{}, "v")
	r := Request(ctx, "sid", "abc")
	if r.Context().Value(ctxKey{}) != "v" {
		t.Fatal("Request lost the context")
	}
	c, err := r.Cookie("sid")
	if err != nil || c.Value != "abc" {
		t.Fatalf("Cookie = %v, %v", c, err)
	}
	if _, err := Request(ctx, "sid", "").Cookie("sid"); !errors.Is(err, http.ErrNoCookie) {
		t.Fatalf("empty value: err = %v, want ErrNoCookie", err)
	}
	var w ResponseWriter
	if len(w.SetCookies()) != 0 {
		t.Fatal("fresh writer has cookies")
	}
	http.SetCookie(&w, &http.Cookie{Name: "sid", Value: "xyz", MaxAge: -1})
	if n, _ := w.Write([]byte(strings.Repeat("x", 10))); n != 10 {
		t.Fatal("Write must report the full length")
	}
	w.WriteHeader(http.StatusTeapot)
	got := w.SetCookies()
	if len(got) != 1 || got[0].Name != "sid" || got[0].Value != "xyz" || got[0].MaxAge != -1 {
		t.Fatalf("SetCookies = %+v", got)
	}
}

func BenchmarkRequest(b *testing.B) {
	ctx := context.Background()
	id, _ := NewID()
	b.ReportAllocs()
	for b.Loop() {
		r := Request(ctx, DefaultCookieName, id)
		if c, err := r.Cookie(DefaultCookieName); err != nil || c.Value != id {
			b.Fatal(err)
		}
	}
}
