package auth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/authlab/authlab/internal/identity"
)

const (
	testSeedPassword  = "seed-password-1"
	testAdminPassword = "admin-password-1"
)

// newTestDirectory builds a small directory at bcrypt's minimum cost.
func newTestDirectory(t testing.TB) *Directory {
	t.Helper()
	d, err := NewDirectory(Config{SeedUsers: 20, SeedPassword: testSeedPassword, AdminPassword: testAdminPassword, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConfigValidate(t *testing.T) {
	ok := Config{SeedUsers: 10, SeedPassword: "p", AdminPassword: "a"}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"zero users without seed password", func(c *Config) { c.SeedUsers, c.SeedPassword = 0, "" }, ""},
		{"explicit cost", func(c *Config) { c.BcryptCost = bcrypt.MinCost }, ""},
		{"negative users", func(c *Config) { c.SeedUsers = -1 }, "seed users"},
		{"too many users", func(c *Config) { c.SeedUsers = MaxSeedUsers + 1 }, "seed users"},
		{"missing seed password", func(c *Config) { c.SeedPassword = "" }, "seed password"},
		{"long seed password", func(c *Config) { c.SeedPassword = strings.Repeat("x", 73) }, "seed password"},
		{"missing admin password", func(c *Config) { c.AdminPassword = "" }, "admin password"},
		{"long admin password", func(c *Config) { c.AdminPassword = strings.Repeat("x", 73) }, "admin password"},
		{"cost too low", func(c *Config) { c.BcryptCost = bcrypt.MinCost - 1 }, "bcrypt cost"},
		{"cost too high", func(c *Config) { c.BcryptCost = MaxBcryptCost + 1 }, "bcrypt cost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate() = %v, want error mentioning %q", err, tt.wantErr)
			}
			if tt.wantErr != "" {
				if _, err := NewDirectory(c); err == nil {
					t.Fatal("NewDirectory accepted an invalid config")
				}
			}
		})
	}
}

func TestSeedUsername(t *testing.T) {
	for i, want := range map[int]string{1: "user0001", 42: "user0042", 9999: "user9999", 10000: "user10000"} {
		if got := identity.SeedUsername(i); got != want {
			t.Errorf("identity.SeedUsername(%d) = %q, want %q", i, got, want)
		}
	}
}

// countingHash records the passwords and costs it is asked to hash, and
// hashes at bcrypt.MinCost so the test stays fast whatever cost is asked.
type countingHash struct {
	mu    sync.Mutex
	calls map[string]int
	costs []int
}

func (c *countingHash) hash(pw []byte, cost int) ([]byte, error) {
	c.mu.Lock()
	c.calls[string(pw)]++
	c.costs = append(c.costs, cost)
	c.mu.Unlock()
	return bcrypt.GenerateFromPassword(pw, bcrypt.MinCost)
}

func TestSeedingHashesSharedPasswordOnce(t *testing.T) {
	for _, n := range []int{0, 1, 10_000} {
		ch := &countingHash{calls: map[string]int{}}
		cfg := Config{SeedUsers: n, SeedPassword: testSeedPassword, AdminPassword: testAdminPassword}
		d, err := newDirectory(cfg, ch.hash)
		if err != nil {
			t.Fatal(err)
		}
		if d.Len() != n+1 {
			t.Fatalf("n=%d: directory has %d users, want %d", n, d.Len(), n+1)
		}
		wantSeed := 0
		if n > 0 {
			wantSeed = 1
		}
		if got := ch.calls[testSeedPassword]; got != wantSeed {
			t.Errorf("n=%d: seed password hashed %d times, want %d", n, got, wantSeed)
		}
		if got := ch.calls[testAdminPassword]; got != 1 {
			t.Errorf("n=%d: admin password hashed %d times, want 1", n, got)
		}
		// seed (if any) + admin + dummy: independent of n.
		if got, want := len(ch.costs), 2+wantSeed; got != want {
			t.Errorf("n=%d: %d bcrypt hashes in total, want %d", n, got, want)
		}
		for _, c := range ch.costs {
			if c != bcrypt.DefaultCost {
				t.Errorf("n=%d: hashed at cost %d, want DefaultCost %d", n, c, bcrypt.DefaultCost)
			}
		}
		if n == 0 {
			continue
		}
		for _, u := range []string{identity.SeedUsername(1), identity.SeedUsername((n + 1) / 2), identity.SeedUsername(n)} {
			if _, err := d.Verify(context.Background(), u, testSeedPassword); err != nil {
				t.Errorf("n=%d: seeded %s does not verify: %v", n, u, err)
			}
		}
		if _, err := d.Verify(context.Background(), identity.SeedUsername(n+1), testSeedPassword); !errors.Is(err, ErrInvalidLogin) {
			t.Errorf("n=%d: user beyond the seed verifies: %v", n, err)
		}
	}
}

func TestHashErrorFailsConstruction(t *testing.T) {
	boom := errors.New("boom")
	_, err := newDirectory(Config{AdminPassword: "a"}, func([]byte, int) ([]byte, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want wrapping %v", err, boom)
	}
}

func TestDummyHashHasConfiguredCost(t *testing.T) {
	d, err := NewDirectory(Config{AdminPassword: "a", BcryptCost: bcrypt.MinCost + 1})
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string][]byte{"dummy": d.dummy, "admin": d.users[AdminUser].hash} {
		if c, err := bcrypt.Cost(h); err != nil || c != bcrypt.MinCost+1 {
			t.Errorf("%s hash cost = %d, %v; want %d (unknown users must cost as much as known ones)", name, c, err, bcrypt.MinCost+1)
		}
	}
}

func TestDirectoryVerify(t *testing.T) {
	d := newTestDirectory(t)
	tests := []struct {
		name      string
		user, pw  string
		wantRoles []string // nil: expect ErrInvalidLogin
	}{
		{"seeded user", "user0001", testSeedPassword, []string{"user"}},
		{"last seeded user", "user0020", testSeedPassword, []string{"user"}},
		{"admin", "admin", testAdminPassword, []string{"admin", "user"}},
		{"wrong password", "user0001", "nope", nil},
		{"admin with seed password", "admin", testSeedPassword, nil},
		{"unknown user", "user0021", testSeedPassword, nil},
		{"unpadded name", "user1", testSeedPassword, nil},
		{"empty user", "", testSeedPassword, nil},
		{"empty password", "user0001", "", nil},
		{"password with extra suffix beyond 72 bytes", "user0001", testSeedPassword + strings.Repeat("x", 80), nil},
		{"case differs", "User0001", testSeedPassword, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := d.Verify(context.Background(), tt.user, tt.pw)
			if tt.wantRoles == nil {
				if !errors.Is(err, ErrInvalidLogin) {
					t.Fatalf("Verify = %+v, %v; want ErrInvalidLogin", p, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.User != tt.user || !slices.Equal(p.Roles, tt.wantRoles) {
				t.Fatalf("Verify = %+v, want user %q roles %v", p, tt.user, tt.wantRoles)
			}
		})
	}
}

func TestVerifyRolesAreCopies(t *testing.T) {
	d := newTestDirectory(t)
	p, err := d.Verify(context.Background(), "user0001", testSeedPassword)
	if err != nil {
		t.Fatal(err)
	}
	p.Roles[0] = "admin"
	q, _ := d.Verify(context.Background(), "user0002", testSeedPassword)
	if q.HasRole("admin") {
		t.Fatal("mutating a returned principal changed the directory")
	}
}

func TestVerifyCanceledContext(t *testing.T) {
	d := newTestDirectory(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Verify(ctx, "user0001", testSeedPassword); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestVerifyRefusesPasswordsBeyondBcryptLimit(t *testing.T) {
	pw72 := strings.Repeat("a", MaxPasswordLen)
	d, err := NewDirectory(Config{AdminPassword: pw72, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Verify(context.Background(), AdminUser, pw72); err != nil {
		t.Fatalf("72-byte password: %v", err)
	}
	// bcrypt alone would accept this: it only looks at the first 72 bytes.
	if _, err := d.Verify(context.Background(), AdminUser, pw72+"b"); !errors.Is(err, ErrInvalidLogin) {
		t.Fatalf("73-byte password sharing the prefix: err = %v, want ErrInvalidLogin", err)
	}
}
