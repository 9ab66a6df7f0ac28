// Package identity is the vocabulary every part of authlab shares about who
// sent a request: the Principal and its role names. The strategies produce
// principals, the gateway carries them in the internal assertion, the auth
// service issues them and the backend authorizes by their roles; none of
// them needs another's package for that.
package identity

import "fmt"

import "slices"

// Role names. The auth service hands them out; the backend checks them.
const (
	// RoleUser is held by every account.
	RoleUser = "user"
	// RoleAdmin is held by administrators, in addition to RoleUser.
	RoleAdmin = "admin"
)

// Principal is an authenticated identity.
type Principal struct {
	User  string   `json:"user"`
	Roles []string `json:"roles"`
}

// HasRole reports whether p holds role.
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// Clone returns a copy of p whose Roles do not alias p's.
func (p Principal) Clone() Principal {
	return Principal{User: p.User, Roles: slices.Clone(p.Roles)}
}

// SeedUsername is the name of seeded user n, counting from 1: user0001,
// user0002, … (four digits at least; user10000 and beyond widen). The auth
// service seeds these users and the harness logs them in; this is the one
// place that spells the pattern.
func SeedUsername(n int) string { return fmt.Sprintf("user%04d", n) }

// SeedAdmin is the name of the seeded administrator (roles admin and
// user): the auth service seeds it and the harness's mixed traffic sends
// the admin path as it. This is the one place that spells it.
const SeedAdmin = "admin"
