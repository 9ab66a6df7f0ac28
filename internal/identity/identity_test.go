package identity

import (
	"encoding/json"
	"testing"
)

func TestHasRole(t *testing.T) {
	p := Principal{User: "root", Roles: []string{RoleAdmin, RoleUser}}
	for _, tc := range []struct {
		p    Principal
		role string
		want bool
	}{
		{p, RoleAdmin, true},
		{p, RoleUser, true},
		{p, "auditor", false},
		{Principal{User: "guest"}, RoleUser, false},
		{Principal{User: "x", Roles: []string{"Admin"}}, RoleAdmin, false}, // case matters
	} {
		if got := tc.p.HasRole(tc.role); got != tc.want {
			t.Errorf("%+v.HasRole(%q) = %v, want %v", tc.p, tc.role, got, tc.want)
		}
	}
}

func TestCloneDoesNotAlias(t *testing.T) {
	p := Principal{User: "u", Roles: []string{RoleUser}}
	c := p.Clone()
	c.Roles[0] = RoleAdmin
	if p.Roles[0] != RoleUser {
		t.Fatalf("Clone aliases Roles: original now %v", p.Roles)
	}
}

// TestJSONShape: the auth service's verify answer and the backend's /api/me
// body are this JSON; the field names are a wire contract.
func TestJSONShape(t *testing.T) {
	b, err := json.Marshal(Principal{User: "u", Roles: []string{RoleUser}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"user":"u","roles":["user"]}`; got != want {
		t.Fatalf("JSON = %s, want %s", got, want)
	}
}
