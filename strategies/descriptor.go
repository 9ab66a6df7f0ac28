package strategies

import (
	"context"
	"flag"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Descriptor describes one strategy, once: what the catalogue
// (strategies/catalog) lists, what the harness and the lb need to know
// before starting anything, and how the gateway builds it from its flags.
// Each strategy package returns its own from a Descriptor function.
type Descriptor struct {
	// Name is the strategy's name on the command line (--strategy), in
	// reports and in result directories.
	Name string `json:"name"`
	// Summary is one line saying where the credential travels and where its
	// state lives.
	Summary string `json:"summary"`
	// Control is true for the control group only ("none"): it authenticates
	// nobody, so the other strategies are measured against it.
	Control bool `json:"control"`
	// StateLives is one sentence, whose subject is the strategy, saying
	// where its state lives (the demo narrates it).
	StateLives string `json:"state_lives"`
	// AfterCrash is what happens to a logged-in user when the instance that
	// served them dies: a sentence with two %s, the dead instance and the
	// one answering next (the demo narrates it).
	AfterCrash string `json:"after_crash"`
	// Needs is what the strategy asks of the topology.
	Needs Needs `json:"needs"`
	// Traits are what it can do as built from its default flags.
	Traits Traits `json:"traits"`
	// HeapPerSession, when not nil, is a back-of-envelope estimate of the
	// gateway heap one session costs (user name of userLen bytes), written
	// from the strategy's data structures; nil when the gateway keeps
	// nothing per session. The scale run prints it beside the measurement.
	HeapPerSession func(userLen int) float64 `json:"-"`
	// Register defines the strategy's own flags on fs and returns the
	// builder that reads their values once fs is parsed. Flags several
	// strategies share are defined by the first of them only (see
	// strategies/internal/sessionutil.RegisterFlags); nothing else reads
	// the environment or parses anything.
	Register func(fs *flag.FlagSet) Builder `json:"-"`
}

// Needs is what a strategy asks of the topology it runs in.
type Needs struct {
	// Redis: the host connects to Redis and hands the client over in
	// Deps.Redis. (jwt could run without one, but then it has neither
	// refresh tokens nor revocation; the gateway always gives it one.)
	Redis bool `json:"redis"`
	// StickyLB: the strategy keeps its state in one instance's memory, so
	// the load balancer in front must pin each client to the instance that
	// logged it in (the lb's sticky policy).
	StickyLB bool `json:"sticky_lb"`
}

// String lists the needs in words: "Redis", "a sticky lb", or "nothing".
func (n Needs) String() string {
	var parts []string
	if n.Redis {
		parts = append(parts, "Redis")
	}
	if n.StickyLB {
		parts = append(parts, "a sticky lb")
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// Traits are what a strategy can do: the facts its Capabilities report
// once built, known before any strategy is built. The conformance suite
// (strategytest.CheckDescriptor) holds a strategy built from its default
// flags to them.
type Traits struct {
	// Transport is where the credential travels.
	Transport TransportKind `json:"transport"`
	// RevokesImmediately is true when, with the default flags, logout makes
	// the credential fail at once on every instance.
	RevokesImmediately bool `json:"revokes_immediately"`
	// RevokeFlag, when RevokesImmediately is false, names the boolean flag
	// that makes logout take effect at once ("jwt-denylist"); empty when no
	// flag does.
	RevokeFlag string `json:"revoke_flag,omitempty"`
	// SharedState is true when any instance accepts a credential another
	// issued.
	SharedState bool `json:"shared_state"`
	// Refreshable is true when the strategy exchanges refresh tokens.
	Refreshable bool `json:"refreshable"`
}

// String lists the traits in words, for listings and reports.
func (t Traits) String() string {
	parts := []string{"credential: " + string(t.Transport)}
	switch {
	case t.RevokesImmediately:
		parts = append(parts, "logout at once")
	case t.RevokeFlag != "":
		parts = append(parts, "logout at once with --"+t.RevokeFlag)
	}
	if t.SharedState {
		parts = append(parts, "shared state")
	}
	if t.Refreshable {
		parts = append(parts, "refreshable")
	}
	return strings.Join(parts, ", ")
}

// Builder builds a strategy from the values of the flags its descriptor
// registered and from what the host provides.
type Builder interface {
	// Check reports a flag value that cannot work on its own, before the
	// host connects to anything (so a bad --jwt-alg is reported without
	// first needing a Redis). Build checks everything else.
	Check() error
	// Build builds the strategy.
	Build(ctx context.Context, deps Deps) (Strategy, error)
}

// BuildFunc is a Builder whose flags need no check before Build.
type BuildFunc func(ctx context.Context, deps Deps) (Strategy, error)

// Check implements Builder: nothing to check.
func (BuildFunc) Check() error { return nil }

// Build implements Builder.
func (f BuildFunc) Build(ctx context.Context, deps Deps) (Strategy, error) { return f(ctx, deps) }

// Deps are what a strategy gets from its host rather than from its own
// flags: shared connections, keys and settings of the whole gateway.
type Deps struct {
	// Redis is the shared client, owned (and closed) by the host. The
	// catalogue refuses to build a strategy whose Needs.Redis without one;
	// the others ignore it.
	Redis redis.UniversalClient
	// FingerprintKey keys the HMAC that turns tokens into store keys (at
	// least 32 bytes); every instance sharing a store uses the same.
	FingerprintKey []byte
	// SecureCookies: the gateway is served over TLS, so cookie strategies
	// name their cookie with the __Host- prefix and mark it Secure. Pass the
	// gateway's own setting (gateway.Config.SecureCookies).
	SecureCookies bool
	// Logger receives the strategy's warnings, including the loud one about
	// a secret generated because its flag was empty; nil means
	// slog.Default().
	Logger *slog.Logger
	// Now is the strategies' clock; nil means time.Now. Tests inject one.
	Now func() time.Time
}

// Log returns d.Logger, or slog.Default() when it is nil.
func (d Deps) Log() *slog.Logger {
	if d.Logger == nil {
		return slog.Default()
	}
	return d.Logger
}
