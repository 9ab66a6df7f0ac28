package gateway

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
)

// mintingStrategy issues "tok-<user>" and accepts what it issued.
type mintingStrategy struct {
	fakeStrategy
	mu     sync.Mutex
	issued map[string]identity.Principal
}

func (s *mintingStrategy) Login(_ context.Context, p identity.Principal) (strategies.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.User == identity.SeedUsername(13) {
		return strategies.Credential{}, strategies.ErrUnavailable
	}
	if s.issued == nil {
		s.issued = map[string]identity.Principal{}
	}
	tok := "tok-" + p.User
	s.issued[tok] = p.Clone()
	return strategies.Credential{Token: tok}, nil
}

func (s *mintingStrategy) Authenticate(_ context.Context, raw string) (identity.Principal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.issued[raw]; ok {
		return p, nil
	}
	return identity.Principal{}, strategies.ErrInvalidCredential
}

// TestPreload: POST /_admin/preload mints one session per seeded user
// through the strategy's Login, with the seeded users' role, and hands the
// tokens back in user order; a failed login is counted, not fatal.
func TestPreload(t *testing.T) {
	s := &mintingStrategy{}
	f := newFixture(t, func(c *Config) { c.Strategy = s; c.AllowPreload = true })
	auth := map[string]string{"Authorization": adminBearer, "Content-Type": "application/json"}
	resp, m := f.doAdmin(t, "POST", "/_admin/preload", `{"first":10,"count":5,"tokens":true}`, auth)
	if resp.StatusCode != 200 {
		t.Fatalf("preload: %d %v", resp.StatusCode, m)
	}
	var res PreloadResult
	b, _ := json.Marshal(m)
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Minted != 4 || res.Failed != 1 || res.FirstError != "credential store error" || len(res.Tokens) != 5 {
		t.Fatalf("preload result %+v, want 4 minted, 1 failed (user13), 5 token slots", res)
	}
	for i, tok := range res.Tokens {
		user := identity.SeedUsername(10 + i)
		if user == identity.SeedUsername(13) {
			if tok != "" {
				t.Errorf("failed login of %s has token %q", user, tok)
			}
			continue
		}
		p, err := s.Authenticate(context.Background(), tok)
		if err != nil || p.User != user || !p.HasRole(identity.RoleUser) || p.HasRole(identity.RoleAdmin) {
			t.Errorf("token %d (%q): %+v %v, want %s with role user only", i, tok, p, err, user)
		}
	}
	// Users named one by one, in the order given.
	resp, m = f.doAdmin(t, "POST", "/_admin/preload", `{"users":[42,7],"tokens":true}`, auth)
	if resp.StatusCode != 200 {
		t.Fatalf("preload users: %d %v", resp.StatusCode, m)
	}
	if toks, _ := m["tokens"].([]any); len(toks) != 2 || toks[0] != "tok-"+identity.SeedUsername(42) || toks[1] != "tok-"+identity.SeedUsername(7) {
		t.Fatalf("preload users: tokens %v, want user0042's then user0007's", m["tokens"])
	}
	// The data plane has no such route.
	if resp, _ := f.do(t, "POST", "/_admin/preload", `{"first":1,"count":1}`, auth); resp.StatusCode != 404 {
		t.Fatalf("data plane preload: %d, want 404", resp.StatusCode)
	}
}

// TestPreloadRefused: disabled, without the admin token, or with bad
// input, preload answers a JSON error and mints nothing.
func TestPreloadRefused(t *testing.T) {
	auth := map[string]string{"Authorization": adminBearer, "Content-Type": "application/json"}
	for _, tt := range []struct {
		name    string
		allow   bool
		body    string
		hdr     map[string]string
		status  int
		errCode string
	}{
		{"disabled", false, `{"first":1,"count":1}`, auth, 404, "not_found"},
		{"no token", true, `{"first":1,"count":1}`, map[string]string{"Content-Type": "application/json"}, 401, "unauthorized"},
		{"first 0", true, `{"first":0,"count":1}`, auth, 400, "bad_request"},
		{"count 0", true, `{"first":1,"count":0}`, auth, 400, "bad_request"},
		{"too many", true, `{"first":1,"count":1000001}`, auth, 400, "bad_request"},
		{"beyond the seeded", true, `{"first":1099999,"count":5}`, auth, 400, "bad_request"},
		{"users and a range", true, `{"first":1,"count":1,"users":[3]}`, auth, 400, "bad_request"},
		{"no user named", true, `{"users":[]}`, auth, 400, "bad_request"},
		{"user 0", true, `{"users":[5,0]}`, auth, 400, "bad_request"},
		{"unknown key", true, `{"first":1,"count":1,"roles":["admin"]}`, auth, 400, "bad_request"},
		{"not JSON", true, `first=1`, auth, 400, "bad_request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &mintingStrategy{}
			f := newFixture(t, func(c *Config) { c.Strategy = s; c.AllowPreload = tt.allow })
			resp, m := f.doAdmin(t, "POST", "/_admin/preload", tt.body, tt.hdr)
			if resp.StatusCode != tt.status || m["error"] != tt.errCode {
				t.Fatalf("%d %v, want %d %s", resp.StatusCode, m, tt.status, tt.errCode)
			}
			if len(s.issued) != 0 {
				t.Fatalf("minted %d sessions on a refused preload", len(s.issued))
			}
			if msg, _ := m["message"].(string); msg == "" {
				t.Fatalf("no message in %v", m)
			}
		})
	}
}
