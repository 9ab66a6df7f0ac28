package assertion

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/identity"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func TestIssueVerifyRoundTrip(t *testing.T) {
	is, err := NewIssuer(key, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(key, nil)
	p := identity.Principal{User: "user0001", Roles: []string{"user"}}
	tok, err := is.Issue(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.User != p.User || !slices.Equal(got.Roles, p.Roles) {
		t.Fatalf("got %+v, want %+v", got, p)
	}
}

func TestIssuerReusesUntilNearExpiry(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	is, _ := NewIssuer(key, 40*time.Second, clock)
	p := identity.Principal{User: "u", Roles: []string{"user"}}
	a, _ := is.Issue(p)
	now = now.Add(20 * time.Second)
	b, _ := is.Issue(p)
	if a != b {
		t.Fatal("assertion not reused within its lifetime")
	}
	now = now.Add(15 * time.Second) // 5 s left < ttl/4
	c, _ := is.Issue(p)
	if c == a {
		t.Fatal("assertion reused too close to expiry")
	}
	other, _ := is.Issue(identity.Principal{User: "u", Roles: []string{"admin"}})
	if other == c {
		t.Fatal("different roles share an assertion")
	}
}

func TestVerifyRejects(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	is, _ := NewIssuer(key, 30*time.Second, func() time.Time { return now })
	good, _ := is.Issue(identity.Principal{User: "u", Roles: []string{"user"}})
	otherKey, _ := NewIssuer([]byte(strings.Repeat("x", 32)), 30*time.Second, func() time.Time { return now })
	forged, _ := otherKey.Issue(identity.Principal{User: "u", Roles: []string{"admin"}})
	parts := strings.Split(good, ".")
	noneAlg := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."

	tests := []struct {
		name string
		tok  string
		at   time.Time
	}{
		{"empty", "", now},
		{"garbage", "not-a-jwt", now},
		{"forged key", forged, now},
		{"alg none", noneAlg, now},
		{"tampered", parts[0] + "." + parts[1] + "x." + parts[2], now},
		{"expired", good, now.Add(time.Minute)},
		{"oversized", strings.Repeat("a", 10_000), now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := NewVerifier(key, func() time.Time { return tt.at })
			if _, err := v.Verify(tt.tok); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestShortKeyRejected(t *testing.T) {
	if _, err := NewIssuer([]byte("short"), 0, nil); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := NewVerifier([]byte("short"), nil); err == nil {
		t.Fatal("short key accepted")
	}
}

func FuzzVerify(f *testing.F) {
	is, _ := NewIssuer(key, 0, nil)
	good, _ := is.Issue(identity.Principal{User: "u", Roles: []string{"user"}})
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	v, _ := NewVerifier(key, nil)
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := v.Verify(tok)
		if err == nil && p.User == "" {
			t.Fatal("accepted assertion without subject")
		}
	})
}

func BenchmarkIssueCached(b *testing.B) {
	is, _ := NewIssuer(key, 0, nil)
	p := identity.Principal{User: "user0001", Roles: []string{"user"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := is.Issue(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	is, _ := NewIssuer(key, 0, nil)
	tok, _ := is.Issue(identity.Principal{User: "user0001", Roles: []string{"user"}})
	v, _ := NewVerifier(key, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
