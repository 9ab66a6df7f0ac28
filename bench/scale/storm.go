package scale

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authlab/authlab/bench/scenario"
	"github.com/authlab/authlab/bench/topology"
	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/lb"
)

// restartAndStorm kills the gateway (SIGKILL: what it held in memory is
// gone), revives it, waits until the lb sees it healthy, then sends real
// logins of the seeded users (password, bcrypt, the strategy's Login)
// through the lb at each rate of cfg in turn, until a rate misses the
// bound.
func restartAndStorm(ctx context.Context, cfg StormConfig, t *topology.Topology, gw *gatewayAdmin, users int) (*Storm, error) {
	s := &Storm{After: "restart of the gateway (SIGKILL, then revive)", P99Ms: ms(cfg.P99)}
	insts, err := t.Instances(ctx)
	if err != nil || len(insts) != 1 {
		return s, fmt.Errorf("list the gateway: %v (%d listed)", err, len(insts))
	}
	id := insts[0].ID
	if err := t.Kill(ctx, id); err != nil {
		return s, err
	}
	if err := t.Revive(ctx, id); err != nil {
		return s, err
	}
	if err := scenario.WaitInstance(ctx, t, id, time.Minute, func(in lb.InstanceInfo) bool { return in.Healthy && in.PID != 0 }); err != nil {
		return s, fmt.Errorf("gateway %s not healthy after its revive: %w", id, err)
	}
	if err := gw.refresh(ctx); err != nil {
		return s, err
	}
	var mu sync.Mutex // vegeta's workers call the targeter concurrently
	next := 0
	targeter := func(tg *vegeta.Target) error {
		mu.Lock()
		next = next%users + 1
		n := next
		mu.Unlock()
		body, err := json.Marshal(map[string]string{"username": identity.SeedUsername(n), "password": t.Password})
		if err != nil {
			return err
		}
		tg.Method, tg.URL, tg.Body = http.MethodPost, t.LBURL+"/auth/login", body
		tg.Header = http.Header{"Content-Type": []string{"application/json"}}
		return nil
	}
	for _, rate := range cfg.Rates {
		o := attack(ctx, targeter, rate, cfg.Step, "storm")
		if err := ctx.Err(); err != nil {
			return s, err
		}
		failed := o.failures()
		st := StormStep{Rate: rate, Achieved: o.achieved, Logins: len(o.lats) + failed, Failed: failed, FailedByClass: o.failed,
			P50Ms: quantileMs(o.lats, 0.5), P99Ms: quantileMs(o.lats, 0.99)}
		st.Within = st.Logins > 0 && st.P99Ms <= s.P99Ms && float64(failed) <= 0.01*float64(st.Logins) && o.achieved >= 0.95*rate
		s.Steps = append(s.Steps, st)
		if !st.Within {
			break
		}
		s.MaxRate = rate
	}
	return s, nil
}
