// Package auth is the auth service: an in-memory user directory with bcrypt
// password hashes, its HTTP handler (POST /v1/verify) and a small client the
// gateway uses to check a username and password at login.
package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/bcrypt"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/internal/secret"
)

// Limits and defaults of the directory.
const (
	// MaxSeedUsers bounds Config.SeedUsers (the directory lives in memory):
	// a million, and room for the scale run's warm-up users beside them.
	MaxSeedUsers = 1_100_000
	// MaxBcryptCost bounds Config.BcryptCost: at cost 16 one verification
	// already takes seconds, beyond that the service is unusable.
	MaxBcryptCost = 16
	// MaxPasswordLen is bcrypt's input limit; longer passwords are refused
	// rather than silently truncated.
	MaxPasswordLen = 72
	// AdminUser is the name of the seeded administrator.
	AdminUser = identity.SeedAdmin
)

// ErrInvalidLogin is returned by Directory.Verify and Client.Verify for an
// unknown user or a wrong password; the two cases are deliberately not told
// apart. It is the auth service's own: how credentials then travel is the
// gateway's and the strategies' business, not this package's.
var ErrInvalidLogin = errors.New("invalid username or password")

// Config configures a Directory.
type Config struct {
	// SeedUsers is how many synthetic users (identity.SeedUsername(1) …
	// identity.SeedUsername(SeedUsers)) are created, all with SeedPassword and role
	// "user". Zero is allowed.
	SeedUsers int
	// SeedPassword is the password of every seeded user; required when
	// SeedUsers > 0. At most 72 bytes.
	SeedPassword string
	// AdminPassword is the password of AdminUser (roles "admin", "user").
	// Required, at most 72 bytes.
	AdminPassword string
	// BcryptCost is the bcrypt work factor; zero means bcrypt.DefaultCost.
	BcryptCost int
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.SeedUsers < 0:
		return fmt.Errorf("seed users: %d, must not be negative", c.SeedUsers)
	case c.SeedUsers > MaxSeedUsers:
		return fmt.Errorf("seed users: %d, at most %d", c.SeedUsers, MaxSeedUsers)
	case c.SeedUsers > 0 && c.SeedPassword == "":
		return errors.New("seed password: required when seeding users")
	case len(c.SeedPassword) > MaxPasswordLen:
		return fmt.Errorf("seed password: %d bytes, at most %d", len(c.SeedPassword), MaxPasswordLen)
	case c.AdminPassword == "":
		return errors.New("admin password: required")
	case len(c.AdminPassword) > MaxPasswordLen:
		return fmt.Errorf("admin password: %d bytes, at most %d", len(c.AdminPassword), MaxPasswordLen)
	case c.BcryptCost != 0 && (c.BcryptCost < bcrypt.MinCost || c.BcryptCost > MaxBcryptCost):
		return fmt.Errorf("bcrypt cost: %d, must be between %d and %d (0 means %d)",
			c.BcryptCost, bcrypt.MinCost, MaxBcryptCost, bcrypt.DefaultCost)
	}
	return nil
}

func (c Config) cost() int {
	if c.BcryptCost == 0 {
		return bcrypt.DefaultCost
	}
	return c.BcryptCost
}

// hashFunc hashes a password at a cost (bcrypt.GenerateFromPassword); tests
// inject a counting one.
type hashFunc func(password []byte, cost int) ([]byte, error)

type entry struct {
	hash  []byte
	roles []string
}

// Directory is an immutable in-memory user directory; it is safe for
// concurrent use.
type Directory struct {
	users map[string]entry
	// dummy is a hash of a random password at the same cost, compared
	// against for unknown users so they cost as much time as known ones.
	dummy []byte
}

// NewDirectory builds the directory described by cfg.
//
// Seeded users share one bcrypt hash, and so one salt: they are synthetic
// load-test accounts with the same password, and hashing it once keeps
// start-up fast (10,000 users at DefaultCost would otherwise take minutes).
// Real accounts would each get their own hash. Start-up costs three bcrypt
// hashes whatever SeedUsers is: the seed password, the admin password and
// the dummy hash for unknown users.
func NewDirectory(cfg Config) (*Directory, error) {
	return newDirectory(cfg, bcrypt.GenerateFromPassword)
}

func newDirectory(cfg Config, hash hashFunc) (*Directory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth config: %w", err)
	}
	cost := cfg.cost()
	d := &Directory{users: make(map[string]entry, cfg.SeedUsers+1)}
	var err error
	if d.dummy, err = hash([]byte(secret.Random()), cost); err != nil {
		return nil, fmt.Errorf("hash dummy password: %w", err)
	}
	if cfg.SeedUsers > 0 {
		shared, err := hash([]byte(cfg.SeedPassword), cost)
		if err != nil {
			return nil, fmt.Errorf("hash seed password: %w", err)
		}
		userRoles := []string{identity.RoleUser}
		for i := 1; i <= cfg.SeedUsers; i++ {
			d.users[identity.SeedUsername(i)] = entry{hash: shared, roles: userRoles}
		}
	}
	adminHash, err := hash([]byte(cfg.AdminPassword), cost)
	if err != nil {
		return nil, fmt.Errorf("hash admin password: %w", err)
	}
	d.users[AdminUser] = entry{hash: adminHash, roles: []string{identity.RoleAdmin, identity.RoleUser}}
	return d, nil
}

// Len returns the number of users in the directory.
func (d *Directory) Len() int { return len(d.users) }

// Verify returns the principal of username when password is right, and
// ErrInvalidLogin otherwise (unknown user, wrong, empty or over-long
// password). Unknown users are compared against a dummy hash so they take
// as long as known ones. It returns ctx's error if ctx is already done.
func (d *Directory) Verify(ctx context.Context, username, password string) (identity.Principal, error) {
	if err := ctx.Err(); err != nil {
		return identity.Principal{}, fmt.Errorf("verify: %w", err)
	}
	e, known := d.users[username]
	hash := e.hash
	if !known {
		hash = d.dummy
	}
	pw := []byte(password)
	if len(pw) > MaxPasswordLen {
		// bcrypt would only look at the first 72 bytes; no stored password
		// is longer, so this is wrong whatever its prefix. Still spend the
		// time of a comparison.
		pw = pw[:MaxPasswordLen]
		known = false
	}
	err := bcrypt.CompareHashAndPassword(hash, pw)
	if err != nil || !known || password == "" {
		return identity.Principal{}, ErrInvalidLogin
	}
	return identity.Principal{User: username, Roles: slices.Clone(e.roles)}, nil
}
