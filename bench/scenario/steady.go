package scenario

import (
	"context"

	"github.com/authlab/authlab/bench/report"
)

// SteadyName names the steady scenario.
const SteadyName = "steady"

// Steady is the configured rate for the configured duration, nothing else.
type Steady struct{}

// Name implements Scenario.
func (Steady) Name() string { return SteadyName }

// Run implements Scenario.
func (Steady) Run(ctx context.Context, env *Env) (report.Scenario, error) {
	s, _, err := env.Load(ctx, SteadyName, env.Config.Rate, env.Config.Duration)
	return s, err
}
