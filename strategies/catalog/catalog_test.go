package catalog

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/internal/redisx/redistest"
	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/strategytest"
)

var (
	fpKey = []byte(strings.Repeat("f", 32))
	quiet = slog.New(slog.DiscardHandler)
)

// secretArgs are the secret flags, so that no test generates (and warns
// about) a development key, and instances built alike share keys.
var secretArgs = []string{"--jwt-secret", strings.Repeat("s", 32)}

// build registers every strategy's flags on a fresh FlagSet, parses args
// (after secretArgs) and builds name, closing it when the test ends.
func build(t *testing.T, name string, deps strategies.Deps, args ...string) strategies.Strategy {
	t.Helper()
	s, err := tryBuild(name, deps, args...)
	if err != nil {
		t.Fatalf("Build(%s %v): %v", name, args, err)
	}
	if c, ok := s.(strategies.Closer); ok {
		t.Cleanup(func() { _ = c.Close() })
	}
	return s
}

func tryBuild(name string, deps strategies.Deps, args ...string) (strategies.Strategy, error) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	b := Register(fs)
	if err := fs.Parse(append(slices.Clone(secretArgs), args...)); err != nil {
		return nil, err
	}
	return b.Build(context.Background(), name, deps)
}

func redisDeps(t *testing.T) (strategies.Deps, redis.UniversalClient) {
	t.Helper()
	client := redistest.Client(t, redistest.Start(t))
	return strategies.Deps{Redis: client, FingerprintKey: fpKey, Logger: quiet}, client
}

// TestCatalogShape: the display order, one control group listed first,
// unique names, a one-line summary and flags for every strategy, and the
// name-based questions the harness asks.
func TestCatalogShape(t *testing.T) {
	if got, want := Names(), []string{"none", "sticky", "redis-session", "jwt", "opaque"}; !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	if _, err := Lookup(Default); err != nil {
		t.Fatalf("Default %q: %v", Default, err)
	}
	all := All()
	if !all[0].Control || Control().Name != all[0].Name {
		t.Fatalf("the control group is not listed first: %+v", all[0])
	}
	for i, d := range all {
		if d.Control != (i == 0) {
			t.Errorf("%s: Control = %v; exactly one control group, first", d.Name, d.Control)
		}
		if d.Summary == "" || strings.Contains(d.Summary, "\n") {
			t.Errorf("%s: summary %q is not one line", d.Name, d.Summary)
		}
		if d.Register == nil {
			t.Errorf("%s: no Register", d.Name)
		}
		if d.Traits.RevokesImmediately && d.Traits.RevokeFlag != "" {
			t.Errorf("%s: revokes at once by default and names a flag for it", d.Name)
		}
		got, err := Lookup(d.Name)
		if err != nil || got.Name != d.Name {
			t.Errorf("Lookup(%s) = %v, %v", d.Name, got.Name, err)
		}
	}
	if _, err := Lookup("kerberos"); !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "redis-session") {
		t.Errorf("Lookup(kerberos) err = %v, want ErrUnknown listing the known names", err)
	}
	for _, tc := range []struct {
		name                     string
		control, redis, stickyLB bool
	}{
		{"none", true, false, false},
		{"sticky", false, false, true},
		{"redis-session", false, true, false},
		{"jwt", false, true, false},
		{"opaque", false, true, false},
		{"kerberos", false, false, false},
	} {
		if got := [3]bool{IsControl(tc.name), NeedsRedis(tc.name), NeedsStickyLB(tc.name)}; got != [3]bool{tc.control, tc.redis, tc.stickyLB} {
			t.Errorf("%s: IsControl, NeedsRedis, NeedsStickyLB = %v, want %v", tc.name, got, [3]bool{tc.control, tc.redis, tc.stickyLB})
		}
	}
}

// TestEveryStrategyThroughTheCatalogue builds every strategy from its
// default flags, as the gateway does: it is what its descriptor says,
// passes the conformance suite, and the flag its descriptor names for
// immediate revocation does turn it on.
func TestEveryStrategyThroughTheCatalogue(t *testing.T) {
	deps, _ := redisDeps(t)
	for _, d := range All() {
		t.Run(d.Name, func(t *testing.T) {
			strategytest.CheckDescriptor(t, d, build(t, d.Name, deps))
			strategytest.Run(t, func(t *testing.T) strategies.Strategy { return build(t, d.Name, deps) })
			if d.Traits.RevokeFlag != "" {
				s := build(t, d.Name, deps, "--"+d.Traits.RevokeFlag)
				if !s.Capabilities().RevokesImmediately {
					t.Errorf("--%s does not make logout immediate", d.Traits.RevokeFlag)
				}
			}
		})
	}
}

func TestBuildUnknownAndMissingRedis(t *testing.T) {
	if _, err := tryBuild("kerberos", strategies.Deps{}); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown strategy: err = %v", err)
	}
	for _, d := range All() {
		_, err := tryBuild(d.Name, strategies.Deps{FingerprintKey: fpKey, Logger: quiet})
		if d.Needs.Redis != (err != nil) {
			t.Errorf("%s without Redis: err = %v, Needs.Redis = %v", d.Name, err, d.Needs.Redis)
		}
	}
}

func TestJWTFlags(t *testing.T) {
	deps, _ := redisDeps(t)
	seed := "ZWQyNTUxOS1zZWVkLTAxMjM0NTY3ODlhYmNkZWYtMDE" // base64url of 32 bytes
	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"default HS256", nil, true},
		{"lower-case alg", []string{"--jwt-alg", "hs256"}, true},
		{"EdDSA with a seed", []string{"--jwt-alg", "EdDSA", "--jwt-ed25519-seed", seed}, true},
		{"EdDSA generates a seed", []string{"--jwt-alg", "eddsa"}, true},
		{"short secret", []string{"--jwt-secret", "short"}, false},
		{"seed not base64", []string{"--jwt-alg", "EdDSA", "--jwt-ed25519-seed", "***"}, false},
		{"seed of 16 bytes", []string{"--jwt-alg", "EdDSA", "--jwt-ed25519-seed", "MDEyMzQ1Njc4OWFiY2RlZg"}, false},
		{"RS256", []string{"--jwt-alg", "RS256"}, false},
		{"family shorter than refresh", []string{"--refresh-ttl", "48h", "--jwt-family-lifetime", "24h"}, false},
		{"grace above its bound", []string{"--jwt-refresh-grace", "2m"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tryBuild("jwt", deps, tc.args...)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if err != nil {
				return
			}
			c, err := s.Login(context.Background(), identity.Principal{User: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Authenticate(context.Background(), c.Token); err != nil {
				t.Fatalf("own token rejected: %v", err)
			}
		})
	}
}

// TestSessionFlagsReachBothStrategies: --session-ttl, --session-idle-ttl
// (defined once, read by both) and Deps.SecureCookies reach sticky and
// redis-session; an idle TTL of 0 means no idle timeout.
func TestSessionFlagsReachBothStrategies(t *testing.T) {
	deps, client := redisDeps(t)
	ctx := context.Background()
	alice := identity.Principal{User: "alice"}

	t.Run("sticky idle", func(t *testing.T) {
		for _, idle := range []string{"0", "10m"} {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			d := strategies.Deps{FingerprintKey: fpKey, Logger: quiet, Now: func() time.Time { return now }} // only this goroutine advances it
			s := build(t, "sticky", d, "--session-ttl", "1h", "--session-idle-ttl", idle)
			c, err := s.Login(ctx, alice)
			if err != nil {
				t.Fatal(err)
			}
			now = now.Add(11 * time.Minute)
			_, err = s.Authenticate(ctx, c.Token)
			if wantExpired := idle != "0"; errors.Is(err, strategies.ErrInvalidCredential) != wantExpired {
				t.Errorf("--session-idle-ttl %s: after 11 idle minutes err = %v, want expired %v", idle, err, wantExpired)
			}
		}
	})
	t.Run("redis-session idle", func(t *testing.T) {
		for _, tc := range []struct {
			idle       string
			wantKeyTTL time.Duration
		}{{"0", time.Hour}, {"10m", 10 * time.Minute}} {
			if err := client.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			s := build(t, "redis-session", deps, "--session-ttl", "1h", "--session-idle-ttl", tc.idle)
			if _, err := s.Login(ctx, alice); err != nil {
				t.Fatal(err)
			}
			keys := client.Keys(ctx, "*").Val()
			if len(keys) != 1 {
				t.Fatalf("keys = %v", keys)
			}
			if ttl := client.PTTL(ctx, keys[0]).Val(); ttl <= tc.wantKeyTTL-time.Minute || ttl > tc.wantKeyTTL {
				t.Errorf("--session-idle-ttl %s: key TTL %v, want ~%v", tc.idle, ttl, tc.wantKeyTTL)
			}
		}
	})
	t.Run("secure cookies", func(t *testing.T) {
		for _, name := range []string{"sticky", "redis-session"} {
			for _, secure := range []bool{false, true} {
				d := deps
				d.SecureCookies = secure
				s := build(t, name, d)
				if got := strings.HasPrefix(s.Capabilities().CookieName, strategies.HostCookiePrefix); got != secure {
					t.Errorf("%s SecureCookies=%v: CookieName %q", name, secure, s.Capabilities().CookieName)
				}
			}
		}
	})
	t.Run("idle above TTL refused", func(t *testing.T) {
		for _, name := range []string{"sticky", "redis-session"} {
			if _, err := tryBuild(name, deps, "--session-ttl", "1m", "--session-idle-ttl", "1h"); err == nil {
				t.Errorf("%s: --session-idle-ttl above --session-ttl accepted", name)
			}
		}
	})
}

// TestPrintDefaultsGroupsByStrategy: the host's flags come first, then
// each strategy under its own heading with the flags it reads; a shared
// flag appears under each strategy that reads it.
func TestPrintDefaultsGroupsByStrategy(t *testing.T) {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.String("listen", "127.0.0.1:8080", "data plane address")
	Register(fs)
	if err := fs.Parse([]string{"--session-ttl", "5h"}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	PrintDefaults(&b, fs)
	out := b.String()
	section := func(name string) string {
		i := strings.Index(out, "\nstrategy "+name+":")
		if i < 0 {
			t.Fatalf("no heading for %s in:\n%s", name, out)
		}
		rest := out[i+1:]
		if j := strings.Index(rest, "\nstrategy "); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}
	if host := out[:strings.Index(out, "\nstrategy ")]; !strings.Contains(host, "-listen") || strings.Contains(host, "-jwt-") || strings.Contains(host, "-session-ttl") {
		t.Errorf("host group:\n%s", host)
	}
	for _, tc := range []struct {
		name         string
		want, absent []string
	}{
		{"none", []string{"(no flags)"}, []string{"-session-ttl"}},
		{"sticky", []string{"-session-ttl", "-session-idle-ttl", "-sticky-max-sessions", "a sticky lb", "(default 1h0m0s)"}, []string{"-jwt-", "-opaque-"}},
		{"redis-session", []string{"-session-ttl", "-session-idle-ttl", "needs Redis"}, []string{"-sticky-"}},
		{"jwt", []string{"-jwt-secret", "-access-ttl", "-refresh-ttl", "with --jwt-denylist"}, []string{"-session-ttl", "-opaque-"}},
		{"opaque", []string{"-opaque-pubsub", "-opaque-cache-ttl"}, []string{"-jwt-"}},
	} {
		sec := section(tc.name)
		for _, w := range tc.want {
			if !strings.Contains(sec, w) {
				t.Errorf("%s section lacks %q:\n%s", tc.name, w, sec)
			}
		}
		for _, a := range tc.absent {
			if strings.Contains(sec, a) {
				t.Errorf("%s section holds %q:\n%s", tc.name, a, sec)
			}
		}
	}
}

// TestCheckBeforeConnecting: a flag that cannot work is reported by Check,
// with nothing connected yet (no Redis, no key).
func TestCheckBeforeConnecting(t *testing.T) {
	for _, tc := range []struct {
		name, strategy string
		args           []string
		want           string // "" = no error
	}{
		{"default jwt", "jwt", nil, ""},
		{"jwt RS256", "jwt", []string{"--jwt-alg", "RS256"}, "--jwt-alg"},
		{"jwt bad seed", "jwt", []string{"--jwt-alg", "EdDSA", "--jwt-ed25519-seed", "***"}, "--jwt-ed25519-seed"},
		{"seed ignored for HS256", "jwt", []string{"--jwt-ed25519-seed", "***"}, ""},
		{"unknown", "kerberos", nil, "unknown strategy"},
		{"opaque", "opaque", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			b := Register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := b.Check(tc.strategy)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Check = %v, want %q", err, tc.want)
			}
		})
	}
}
