// Package strategytest is the conformance suite every strategy passes.
//
// A strategy's test calls Run with a function that builds a new instance of
// the strategy, as a new gateway instance would: same keys, same store (if
// any), its own memory. The suite checks the Strategy contract and the
// behaviour its Capabilities claim.
package strategytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
)

// NewInstance builds a fresh instance of the strategy under test. Instances
// built by one NewInstance share keys and store.
type NewInstance func(t *testing.T) strategies.Strategy

var alice = identity.Principal{User: "alice", Roles: []string{identity.RoleUser}}
var root = identity.Principal{User: "root", Roles: []string{identity.RoleAdmin, identity.RoleUser}}

// Run runs the conformance suite.
func Run(t *testing.T, newInstance NewInstance) {
	t.Helper()
	probe := newInstance(t)
	caps := probe.Capabilities()
	if probe.Name() == "" {
		t.Fatal("Name() is empty")
	}
	if caps.Transport == strategies.TransportCookie && caps.CookieName == "" {
		t.Fatal("cookie transport without CookieName")
	}
	if !caps.Authenticates {
		t.Run("AnonymousControlGroup", func(t *testing.T) { anonymous(t, probe) })
		return
	}
	t.Run("EmptyCredential", func(t *testing.T) {
		_, err := newInstance(t).Authenticate(context.Background(), "")
		if !errors.Is(err, strategies.ErrNoCredential) {
			t.Fatalf("Authenticate(\"\") err = %v, want ErrNoCredential", err)
		}
	})
	t.Run("LoginAuthenticate", func(t *testing.T) {
		s := newInstance(t)
		for _, p := range []identity.Principal{alice, root} {
			c := mustLogin(t, s, p)
			got, err := s.Authenticate(context.Background(), c.Token)
			if err != nil {
				t.Fatalf("Authenticate(fresh credential): %v", err)
			}
			if got.User != p.User || !slices.Equal(got.Roles, p.Roles) {
				t.Fatalf("Authenticate = %+v, want %+v", got, p)
			}
		}
	})
	t.Run("FreshCredentialPerLogin", func(t *testing.T) {
		s := newInstance(t)
		a, b := mustLogin(t, s, alice), mustLogin(t, s, alice)
		if a.Token == b.Token {
			t.Fatal("two logins returned the same credential (session fixation / predictability)")
		}
		if strings.Contains(a.Token, "alice") && caps.Transport == strategies.TransportCookie {
			t.Fatal("cookie credential reveals the user name")
		}
	})
	t.Run("HostileCredentials", func(t *testing.T) {
		s := newInstance(t)
		c := mustLogin(t, s, alice)
		for name, raw := range Hostile(c.Token) {
			_, err := s.Authenticate(context.Background(), raw)
			if !errors.Is(err, strategies.ErrInvalidCredential) {
				t.Errorf("%s: err = %v, want ErrInvalidCredential", name, err)
			}
		}
	})
	t.Run("LogoutUnknownIsNoError", func(t *testing.T) {
		s := newInstance(t)
		for name, raw := range Hostile("x") {
			if err := s.Logout(context.Background(), raw); err != nil {
				t.Errorf("Logout(%s) = %v, want nil", name, err)
			}
		}
	})
	t.Run("Logout", func(t *testing.T) {
		a, b := newInstance(t), newInstance(t)
		c := mustLogin(t, a, alice)
		other := mustLogin(t, a, alice)
		if caps.SharedState {
			if _, err := b.Authenticate(context.Background(), c.Token); err != nil {
				t.Fatalf("warm instance B: %v", err)
			}
		}
		if err := a.Logout(context.Background(), c.Token); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		if !caps.RevokesImmediately {
			return
		}
		if _, err := a.Authenticate(context.Background(), c.Token); !errors.Is(err, strategies.ErrInvalidCredential) {
			t.Fatalf("after logout, same instance: err = %v, want ErrInvalidCredential", err)
		}
		if caps.SharedState {
			eventuallyRejected(t, b, c.Token, 3*time.Second)
		}
		if _, err := a.Authenticate(context.Background(), other.Token); err != nil {
			t.Fatalf("logout of one credential revoked another of the same user: %v", err)
		}
	})
	t.Run("SharedState", func(t *testing.T) {
		a, b := newInstance(t), newInstance(t)
		c := mustLogin(t, a, alice)
		_, err := b.Authenticate(context.Background(), c.Token)
		switch {
		case caps.SharedState && err != nil:
			t.Fatalf("SharedState claimed, but instance B rejects A's credential: %v", err)
		case !caps.SharedState && !errors.Is(err, strategies.ErrInvalidCredential):
			t.Fatalf("no SharedState claimed, but instance B answered %v (want ErrInvalidCredential)", err)
		}
		if caps.NeedsSticky == caps.SharedState {
			t.Fatalf("NeedsSticky (%v) must be the opposite of SharedState (%v)", caps.NeedsSticky, caps.SharedState)
		}
	})
	t.Run("Refresh", func(t *testing.T) {
		s := newInstance(t)
		r, ok := s.(strategies.Refresher)
		if ok != caps.Refreshable {
			t.Fatalf("implements Refresher = %v, Capabilities.Refreshable = %v", ok, caps.Refreshable)
		}
		if !ok {
			return
		}
		c := mustLogin(t, s, alice)
		if c.RefreshToken == "" {
			t.Fatal("refreshable strategy issued no refresh token")
		}
		n, p, err := r.Refresh(context.Background(), c.RefreshToken)
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		if p.User != alice.User || n.Token == "" || n.RefreshToken == "" || n.RefreshToken == c.RefreshToken {
			t.Fatalf("Refresh returned %+v for %+v", n, p)
		}
		if _, err := s.Authenticate(context.Background(), n.Token); err != nil {
			t.Fatalf("refreshed access token rejected: %v", err)
		}
		// Spend the new token too: the first one is now reused whether or
		// not the strategy has a grace window for retried refreshes (a
		// window covers only a token whose successor is still unused).
		if _, _, err := r.Refresh(context.Background(), n.RefreshToken); err != nil {
			t.Fatalf("second Refresh: %v", err)
		}
		if _, _, err := r.Refresh(context.Background(), c.RefreshToken); !errors.Is(err, strategies.ErrInvalidCredential) {
			t.Fatalf("reused refresh token: err = %v, want ErrInvalidCredential", err)
		}
		if _, _, err := r.Refresh(context.Background(), c.Token); !errors.Is(err, strategies.ErrInvalidCredential) {
			t.Fatalf("access token used as refresh token: err = %v, want ErrInvalidCredential", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := newInstance(t)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Go(func() {
				p := identity.Principal{User: fmt.Sprintf("u%02d", i), Roles: []string{identity.RoleUser}}
				for range 20 {
					c, err := s.Login(context.Background(), p)
					if err != nil {
						errs <- err
						return
					}
					got, err := s.Authenticate(context.Background(), c.Token)
					if err != nil || got.User != p.User {
						errs <- fmt.Errorf("authenticate %s: %+v, %w", p.User, got, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// Hostile returns credentials derived from a valid one that no strategy may
// accept: empty-ish, truncated, tampered, oversized, garbage.
func Hostile(valid string) map[string]string {
	h := map[string]string{
		"garbage":      "not-a-credential",
		"spaces":       "   ",
		"10KB garbage": strings.Repeat("A", 10*1024),
		"binary":       "\x00\xff\xfe",
		"dots":         "..",
		"oversized":    valid + strings.Repeat("A", strategies.MaxCredentialLen),
		"doubled":      valid + valid,
		"newline":      valid + "\n",
		"unicode":      "ünïcødé-tøkén",
	}
	if len(valid) > 2 {
		h["truncated"] = valid[:len(valid)-1]
		h["half"] = valid[:len(valid)/2]
		b := []byte(valid)
		mid := len(b) / 2
		if b[mid] == 'A' {
			b[mid] = 'B'
		} else {
			b[mid] = 'A'
		}
		h["flipped middle char"] = string(b)
	}
	return h
}

func anonymous(t *testing.T, s strategies.Strategy) {
	p, err := s.Authenticate(context.Background(), "")
	if err != nil || p.User == "" {
		t.Fatalf("control group must accept every request as a principal: %+v, %v", p, err)
	}
	if _, err := s.Login(context.Background(), alice); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if err := s.Logout(context.Background(), ""); err != nil {
		t.Fatalf("Logout: %v", err)
	}
}

func mustLogin(t *testing.T, s strategies.Strategy, p identity.Principal) strategies.Credential {
	t.Helper()
	c, err := s.Login(context.Background(), p)
	if err != nil {
		t.Fatalf("Login(%s): %v", p.User, err)
	}
	if c.Token == "" {
		t.Fatalf("Login(%s) returned an empty token", p.User)
	}
	if len(c.Token) > strategies.MaxCredentialLen {
		t.Fatalf("Login(%s) token is %d bytes, above MaxCredentialLen", p.User, len(c.Token))
	}
	return c
}

// eventuallyRejected polls s until raw is rejected or within elapses. It is
// a readiness poll for asynchronous invalidation (pub/sub), not a sleep.
func eventuallyRejected(t *testing.T, s strategies.Strategy, raw string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, err := s.Authenticate(context.Background(), raw)
		if errors.Is(err, strategies.ErrInvalidCredential) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("credential still accepted by instance B %v after logout (last err %v)", within, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// CheckOnlyIssued is the body of every strategy's FuzzAuthenticate: raw is
// accepted if and only if it is one of the issued credentials (and then as
// its principal's user); anything else is rejected with ErrNoCredential when
// empty and ErrInvalidCredential otherwise. It returns true when raw was
// issued.
func CheckOnlyIssued(t *testing.T, s strategies.Strategy, raw string, issued map[string]identity.Principal) bool {
	t.Helper()
	p, err := s.Authenticate(context.Background(), raw)
	if want, ok := issued[raw]; ok {
		if err != nil || p.User != want.User {
			t.Fatalf("issued credential rejected: %+v, %v", p, err)
		}
		return true
	}
	if err == nil {
		t.Fatalf("accepted a credential that was never issued: %q -> %+v", raw, p)
	}
	want := strategies.ErrInvalidCredential
	if raw == "" {
		want = strategies.ErrNoCredential
	}
	if !errors.Is(err, want) {
		t.Fatalf("Authenticate(%q) err = %v, want %v", raw, err, want)
	}
	return false
}
