package none

import (
	"context"
	"flag"

	"github.com/authlab/authlab/strategies"
)

// Descriptor describes the control group for the catalogue. It has no
// flags and needs nothing.
func Descriptor() strategies.Descriptor {
	return strategies.Descriptor{
		Name:       Name,
		Summary:    "no authentication: every request is the anonymous user; the chain's own cost (control group)",
		StateLives: "authenticates nobody: every request is the anonymous user (the control group).",
		AfterCrash: "%s is gone; %s answers the anonymous request just the same.",
		Control:    true,
		Traits:     strategies.Traits{Transport: strategies.TransportNone, SharedState: true},
		Register: func(*flag.FlagSet) strategies.Builder {
			return strategies.BuildFunc(func(context.Context, strategies.Deps) (strategies.Strategy, error) { return New(), nil })
		},
	}
}
