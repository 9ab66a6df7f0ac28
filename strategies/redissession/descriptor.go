package redissession

import (
	"context"
	"flag"

	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/internal/sessionutil"
)

// Descriptor describes the redis-session strategy for the catalogue: its
// flags are the shared session flags.
func Descriptor() strategies.Descriptor {
	return strategies.Descriptor{
		Name:       Name,
		Summary:    "session-id cookie; the session lives in Redis, shared by every gateway",
		StateLives: "keeps the session in Redis, shared by every gateway; the cookie only holds its id.",
		AfterCrash: "%s is gone, but %s read the same session from Redis: the user carries on without noticing.",
		Needs:      strategies.Needs{Redis: true},
		Traits:     strategies.Traits{Transport: strategies.TransportCookie, RevokesImmediately: true, SharedState: true},
		Register: func(fs *flag.FlagSet) strategies.Builder {
			session := sessionutil.RegisterFlags(fs)
			return strategies.BuildFunc(func(ctx context.Context, d strategies.Deps) (strategies.Strategy, error) {
				sf := session()
				s, err := New(ctx, Config{
					Client:         d.Redis,
					TTL:            sf.TTL,
					IdleTTL:        sf.IdleTTL,
					Secure:         d.SecureCookies,
					FingerprintKey: d.FingerprintKey,
					Now:            d.Now,
				})
				if err != nil {
					return nil, err // not a typed nil in the interface
				}
				return s, nil
			})
		},
	}
}
