package lb

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// pool builds instances named ids, all running and healthy.
func pool(ids ...string) []*instance {
	insts := make([]*instance, len(ids))
	for i, id := range ids {
		insts[i] = &instance{id: id}
		insts[i].healthy.Store(true)
	}
	return insts
}

func byName(insts []*instance, id string) *instance {
	for _, in := range insts {
		if in.id == id {
			return in
		}
	}
	panic("no instance " + id)
}

// picks calls sel n times and returns the ids it picked ("" for nil).
func picks(sel selector, c candidates, n int) []string {
	var out []string
	for range n {
		w := httptest.NewRecorder()
		in := sel.Select(c, httptest.NewRequest(http.MethodGet, "/", nil), w)
		if in == nil {
			out = append(out, "")
			continue
		}
		out = append(out, in.id)
	}
	return out
}

func TestRoundRobinAndLeastConnSelect(t *testing.T) {
	tests := []struct {
		name     string
		policy   Policy
		down     []string
		tried    []string
		inFlight map[string]int64
		want     []string // the set of ids picked over three calls
	}{
		{"round-robin takes turns", RoundRobin, nil, nil, nil, []string{"a", "b", "c"}},
		{"round-robin skips a down instance", RoundRobin, []string{"b"}, nil, nil, []string{"a", "c"}},
		{"round-robin skips a tried instance", RoundRobin, nil, []string{"a"}, nil, []string{"b", "c"}},
		{"round-robin: nothing left", RoundRobin, []string{"a"}, []string{"b", "c"}, nil, []string{""}},
		{"least-conn takes the idlest", LeastConn, nil, nil, map[string]int64{"a": 2, "c": 1}, []string{"b"}},
		{"least-conn skips a tried instance", LeastConn, nil, []string{"b"}, map[string]int64{"a": 2, "c": 1}, []string{"c"}},
		{"least-conn breaks ties in turn", LeastConn, nil, nil, map[string]int64{"c": 1}, []string{"a", "b"}},
		{"least-conn: nothing left", LeastConn, []string{"a", "b", "c"}, nil, nil, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			insts := pool("a", "b", "c")
			for _, id := range tt.down {
				byName(insts, id).healthy.Store(false)
			}
			c := candidates{all: insts}
			for _, id := range tt.tried {
				c.tried = append(c.tried, byName(insts, id))
			}
			for id, n := range tt.inFlight {
				byName(insts, id).inFlight.Store(n)
			}
			p, _ := lookupPolicy(tt.policy)
			got := picks(p.build(Config{}, insts), c, 3)
			slices.Sort(got)
			got = slices.Compact(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("picked %v, want each of %v", got, tt.want)
			}
		})
	}
}

func TestStickySelect(t *testing.T) {
	key := []byte("policy-test-cookie-key-0123")
	pin := func(id string) *http.Cookie { return &http.Cookie{Name: CookieName, Value: cookieValue(key, id)} }
	tests := []struct {
		name       string
		cookie     *http.Cookie
		down       []string
		tried      []string
		wantOneOf  []string
		wantRepins bool // the response sets a cookie pinning the pick
	}{
		{"pinned client stays", pin("b"), nil, nil, []string{"b"}, false},
		{"new client is pinned", nil, nil, nil, []string{"a", "b", "c"}, true},
		{"dead pin is replaced at once", pin("b"), []string{"b"}, nil, []string{"a", "c"}, true},
		{"tried pin is replaced (retry)", pin("b"), nil, []string{"b"}, []string{"a", "c"}, true},
		{"bare id is no pin", &http.Cookie{Name: CookieName, Value: "b"}, nil, nil, []string{"a", "b", "c"}, true},
		{"nothing left", pin("b"), []string{"a", "b", "c"}, nil, []string{""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			insts := pool("a", "b", "c")
			for _, id := range tt.down {
				byName(insts, id).healthy.Store(false)
			}
			c := candidates{all: insts}
			for _, id := range tt.tried {
				c.tried = append(c.tried, byName(insts, id))
			}
			sel := newSticky(Config{CookieKey: key}, insts)
			for range 3 {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				if tt.cookie != nil {
					r.AddCookie(tt.cookie)
				}
				w := httptest.NewRecorder()
				id := ""
				if in := sel.Select(c, r, w); in != nil {
					id = in.id
				}
				if !slices.Contains(tt.wantOneOf, id) {
					t.Fatalf("picked %q, want one of %v", id, tt.wantOneOf)
				}
				set := w.Header().Get("Set-Cookie")
				if !tt.wantRepins {
					if set != "" {
						t.Fatalf("Set-Cookie %q, want none", set)
					}
					continue
				}
				got, err := http.ParseSetCookie(set)
				if err != nil || got.Name != CookieName || got.Value != cookieValue(key, id) || !got.HttpOnly || got.Path != "/" {
					t.Fatalf("Set-Cookie %q (%v), want an HttpOnly pin to %s", set, err, id)
				}
			}
		})
	}
}

// TestPolicyNames: every Policy constant is named once, in the order the
// help text and the unknown-policy error list them.
func TestPolicyNames(t *testing.T) {
	if got, want := PolicyNames(), "round-robin, least-conn or sticky"; got != want {
		t.Errorf("PolicyNames() = %q, want %q", got, want)
	}
	for _, p := range []Policy{RoundRobin, LeastConn, Sticky} {
		if _, ok := lookupPolicy(p); !ok {
			t.Errorf("policy %s not named", p)
		}
	}
	if _, ok := lookupPolicy("random"); ok {
		t.Error("unknown policy found")
	}
	err := Config{Policy: "random"}.Validate()
	if err == nil || !strings.Contains(err.Error(), `unknown policy "random" (want round-robin, least-conn or sticky)`) {
		t.Errorf("Validate: %v", err)
	}
}
