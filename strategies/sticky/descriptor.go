package sticky

import (
	"context"
	"flag"

	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/internal/sessionutil"
)

// Descriptor describes the sticky strategy for the catalogue: its flags are
// the shared session flags plus --sticky-max-sessions and
// --sticky-max-sessions-per-user.
func Descriptor() strategies.Descriptor {
	return strategies.Descriptor{
		Name:           Name,
		Summary:        "session-id cookie; the session lives in the memory of the gateway that created it, lost with it",
		StateLives:     "keeps the session in the memory of the gateway that created it; the lb pins the user to that gateway with its authlab_lb cookie.",
		AfterCrash:     "the session existed only in %s's memory, which died with the process. %s has never heard of it: the user is logged out and must log in again (a session lost).",
		Needs:          strategies.Needs{StickyLB: true},
		Traits:         strategies.Traits{Transport: strategies.TransportCookie, RevokesImmediately: true},
		HeapPerSession: EstimateHeapPerSession,
		Register: func(fs *flag.FlagSet) strategies.Builder {
			session := sessionutil.RegisterFlags(fs)
			maxSessions := fs.Int("sticky-max-sessions", 1_000_000, "most sessions kept in memory (new logins beyond it get 503)")
			maxPerUser := fs.Int("sticky-max-sessions-per-user", DefaultMaxSessionsPerUser, "most sessions of one account; its oldest is dropped at the next login")
			return strategies.BuildFunc(func(_ context.Context, d strategies.Deps) (strategies.Strategy, error) {
				sf := session()
				s, err := New(Config{
					TTL:                sf.TTL,
					IdleTTL:            sf.IdleTTL,
					MaxSessions:        *maxSessions,
					MaxSessionsPerUser: *maxPerUser,
					Secure:             d.SecureCookies,
					FingerprintKey:     d.FingerprintKey,
					Now:                d.Now,
				})
				if err != nil {
					return nil, err // not a typed nil in the interface
				}
				return s, nil
			})
		},
	}
}
