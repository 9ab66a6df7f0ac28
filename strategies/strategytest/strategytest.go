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

// Run runs the conformance suite: the strategy's self-description, then a
// short list of named checks, each a subtest. A strategy that does not
// authenticate (the control group) gets the control-group check only.
func Run(t *testing.T, newInstance NewInstance) {
	t.Helper()
	s := suite{newInstance: newInstance, probe: newInstance(t)}
	s.caps = s.probe.Capabilities()
	s.selfDescription(t)
	if !s.caps.Authenticates {
		t.Run("AnonymousControlGroup", s.anonymousControlGroup)
		return
	}
	for _, c := range []struct {
		name  string
		check func(*testing.T)
	}{
		{"EmptyCredential", s.emptyCredential},
		{"LoginAuthenticate", s.loginAuthenticate},
		{"FreshCredentialPerLogin", s.freshCredentialPerLogin},
		{"HostileCredentials", s.hostileCredentials},
		{"LogoutUnknownIsNoError", s.logoutUnknownIsNoError},
		{"Logout", s.logout},
		{"SharedState", s.sharedState},
		{"Refresh", s.refresh},
		{"Concurrent", s.concurrent},
	} {
		t.Run(c.name, c.check)
	}
}

// suite is one run of the conformance suite: how to build instances, one
// instance built up front, and the capabilities it claims.
type suite struct {
	newInstance NewInstance
	probe       strategies.Strategy
	caps        strategies.Capabilities
}

// selfDescription: a name, and a cookie name for a cookie transport.
func (s suite) selfDescription(t *testing.T) {
	t.Helper()
	if s.probe.Name() == "" {
		t.Fatal("Name() is empty")
	}
	if s.caps.Transport == strategies.TransportCookie && s.caps.CookieName == "" {
		t.Fatal("cookie transport without CookieName")
	}
}

// anonymousControlGroup: every request is a principal; login and logout
// succeed and do nothing.
func (s suite) anonymousControlGroup(t *testing.T) {
	p, err := s.probe.Authenticate(context.Background(), "")
	if err != nil || p.User == "" {
		t.Fatalf("control group must accept every request as a principal: %+v, %v", p, err)
	}
	if _, err := s.probe.Login(context.Background(), alice); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if err := s.probe.Logout(context.Background(), ""); err != nil {
		t.Fatalf("Logout: %v", err)
	}
}

// emptyCredential: no credential is ErrNoCredential (401), not an error
// of the store.
func (s suite) emptyCredential(t *testing.T) {
	_, err := s.newInstance(t).Authenticate(context.Background(), "")
	if !errors.Is(err, strategies.ErrNoCredential) {
		t.Fatalf("Authenticate(\"\") err = %v, want ErrNoCredential", err)
	}
}

// loginAuthenticate: a fresh credential authenticates as its principal,
// roles included.
func (s suite) loginAuthenticate(t *testing.T) {
	in := s.newInstance(t)
	for _, p := range []identity.Principal{alice, root} {
		c := mustLogin(t, in, p)
		got, err := in.Authenticate(context.Background(), c.Token)
		if err != nil {
			t.Fatalf("Authenticate(fresh credential): %v", err)
		}
		if got.User != p.User || !slices.Equal(got.Roles, p.Roles) {
			t.Fatalf("Authenticate = %+v, want %+v", got, p)
		}
	}
}

// freshCredentialPerLogin: no fixation, and a cookie does not reveal the
// user.
func (s suite) freshCredentialPerLogin(t *testing.T) {
	in := s.newInstance(t)
	a, b := mustLogin(t, in, alice), mustLogin(t, in, alice)
	if a.Token == b.Token {
		t.Fatal("two logins returned the same credential (session fixation / predictability)")
	}
	if strings.Contains(a.Token, "alice") && s.caps.Transport == strategies.TransportCookie {
		t.Fatal("cookie credential reveals the user name")
	}
}

// hostileCredentials: anything derived from a valid credential is
// ErrInvalidCredential.
func (s suite) hostileCredentials(t *testing.T) {
	in := s.newInstance(t)
	c := mustLogin(t, in, alice)
	for name, raw := range Hostile(c.Token) {
		_, err := in.Authenticate(context.Background(), raw)
		if !errors.Is(err, strategies.ErrInvalidCredential) {
			t.Errorf("%s: err = %v, want ErrInvalidCredential", name, err)
		}
	}
}

// logoutUnknownIsNoError: logging out garbage is not an error.
func (s suite) logoutUnknownIsNoError(t *testing.T) {
	in := s.newInstance(t)
	for name, raw := range Hostile("x") {
		if err := in.Logout(context.Background(), raw); err != nil {
			t.Errorf("Logout(%s) = %v, want nil", name, err)
		}
	}
}

// logout: with RevokesImmediately, the credential fails at once on this
// instance and (with SharedState) soon on another, while another
// credential of the same user survives.
func (s suite) logout(t *testing.T) {
	a, b := s.newInstance(t), s.newInstance(t)
	c := mustLogin(t, a, alice)
	other := mustLogin(t, a, alice)
	if s.caps.SharedState {
		if _, err := b.Authenticate(context.Background(), c.Token); err != nil {
			t.Fatalf("warm instance B: %v", err)
		}
	}
	if err := a.Logout(context.Background(), c.Token); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if !s.caps.RevokesImmediately {
		return
	}
	if _, err := a.Authenticate(context.Background(), c.Token); !errors.Is(err, strategies.ErrInvalidCredential) {
		t.Fatalf("after logout, same instance: err = %v, want ErrInvalidCredential", err)
	}
	if s.caps.SharedState {
		eventuallyRejected(t, b, c.Token, 3*time.Second)
	}
	if _, err := a.Authenticate(context.Background(), other.Token); err != nil {
		t.Fatalf("logout of one credential revoked another of the same user: %v", err)
	}
}

// sharedState: another instance accepts the credential iff SharedState,
// and NeedsSticky is its opposite.
func (s suite) sharedState(t *testing.T) {
	a, b := s.newInstance(t), s.newInstance(t)
	c := mustLogin(t, a, alice)
	_, err := b.Authenticate(context.Background(), c.Token)
	switch {
	case s.caps.SharedState && err != nil:
		t.Fatalf("SharedState claimed, but instance B rejects A's credential: %v", err)
	case !s.caps.SharedState && !errors.Is(err, strategies.ErrInvalidCredential):
		t.Fatalf("no SharedState claimed, but instance B answered %v (want ErrInvalidCredential)", err)
	}
	if s.caps.NeedsSticky == s.caps.SharedState {
		t.Fatalf("NeedsSticky (%v) must be the opposite of SharedState (%v)", s.caps.NeedsSticky, s.caps.SharedState)
	}
}

// refresh: Refreshable iff Refresher; a refresh token rotates, is single
// use, and an access token is no refresh token.
func (s suite) refresh(t *testing.T) {
	in := s.newInstance(t)
	r, ok := in.(strategies.Refresher)
	if ok != s.caps.Refreshable {
		t.Fatalf("implements Refresher = %v, Capabilities.Refreshable = %v", ok, s.caps.Refreshable)
	}
	if !ok {
		return
	}
	c := mustLogin(t, in, alice)
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
	if _, err := in.Authenticate(context.Background(), n.Token); err != nil {
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
}

// concurrent: 16 users logging in and authenticating at once each get
// their own principal back.
func (s suite) concurrent(t *testing.T) {
	in := s.newInstance(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			p := identity.Principal{User: fmt.Sprintf("u%02d", i), Roles: []string{identity.RoleUser}}
			for range 20 {
				c, err := in.Login(context.Background(), p)
				if err != nil {
					errs <- err
					return
				}
				got, err := in.Authenticate(context.Background(), c.Token)
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

// CheckDescriptor checks that d describes s, a strategy d's builder built
// from its default flags: the same name, and Capabilities that match the
// descriptor's Control, Needs and Traits. A descriptor that claims what
// the strategy does not do fails here, not in a benchmark report.
func CheckDescriptor(t *testing.T, d strategies.Descriptor, s strategies.Strategy) {
	t.Helper()
	caps := s.Capabilities()
	if d.Summary == "" || d.StateLives == "" || strings.Count(d.AfterCrash, "%s") != 2 {
		t.Errorf("%s: descriptor needs a Summary, a StateLives sentence and an AfterCrash format with two %%s", d.Name)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"Name()", s.Name(), d.Name},
		{"Capabilities.Authenticates (not Control)", caps.Authenticates, !d.Control},
		{"Capabilities.UsesRedis (Needs.Redis)", caps.UsesRedis, d.Needs.Redis},
		{"Capabilities.NeedsSticky (Needs.StickyLB)", caps.NeedsSticky, d.Needs.StickyLB},
		{"Capabilities.Transport", caps.Transport, d.Traits.Transport},
		{"Capabilities.RevokesImmediately", caps.RevokesImmediately, d.Traits.RevokesImmediately},
		{"Capabilities.SharedState", caps.SharedState, d.Traits.SharedState},
		{"Capabilities.Refreshable", caps.Refreshable, d.Traits.Refreshable},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s = %v, the descriptor says %v", d.Name, c.what, c.got, c.want)
		}
	}
}
