package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/bench/scenario"
	"github.com/authlab/authlab/bench/target"
	"github.com/authlab/authlab/lb"
)

// TargetConfig is a run against a deployment the harness did not start
// (`authlab bench --target`).
type TargetConfig struct {
	Target target.Config
	// Password of the deployment's seeded users (its
	// AUTHLAB_SEED_PASSWORD).
	Password string
}

// RunTarget runs the scenarios of cfg against the deployment tc names and
// writes the same report as Run, labelled with its target. Nothing is
// started or stopped but what the scenarios do to the deployment (a
// gateway killed and started again, cut off from Redis and reconnected).
// cfg.Instances and cfg.Policy are read from the deployment's lb.
func RunTarget(ctx context.Context, cfg Config, tc TargetConfig) (*report.Report, string, error) {
	if cfg.UpstreamLatency != 0 || cfg.UpstreamJitter != 0 {
		return nil, "", errors.New("upstream latency/jitter needs the lb the harness starts (its proxies stand before the gateways that lb starts); a target's lb and gateways are its own")
	}
	if tc.Password == "" {
		return nil, "", errors.New("the target's seeded-user password is missing (AUTHLAB_SEED_PASSWORD)")
	}
	dep, err := target.New(ctx, tc.Target)
	if err != nil {
		return nil, "", err
	}
	insts, err := dep.Instances(ctx)
	if err != nil {
		return nil, "", err
	}
	cfg.Instances = len(insts)
	if cfg.Exe == "" {
		cfg.Exe = "(none: nothing is started against a target)"
	}
	if err := cfg.Validate(); err != nil {
		return nil, "", err
	}
	started := time.Now().UTC()
	runID, dir, err := makeRunDir(cfg.OutDir, cfg.Strategy, started)
	if err != nil {
		return nil, "", err
	}
	r := newReport(ctx, cfg, runID, started)
	r.Settings.Target = dep.Label()
	r.Settings.Policy = "(the target lb's)"
	r.Environment.RedisKind = "the target's own"
	progress := load.NewProgress(cfg.Progress, cfg.Terminal, cfg.Strategy)
	progress.Note("target %s: %d gateways; failover kills by %s", dep.Label(), len(insts), dep.KillMethod())

	d, err := load.New(cfg.loadConfig(dep.LBURL(), tc.Password))
	if err != nil {
		return nil, dir, err
	}
	env := &scenario.Env{Config: cfg.scenarioConfig(), Driver: d, Gateways: dep, Progress: progress,
		Kill: deploymentKill{dep}}
	if dep.CanPartition() {
		env.Partition = dep
	}
	// The gateways' admin token and Redis are the deployment's own: no
	// heap reading, no micro-benchmark.
	return finishRun(dir, r, progress, logInAndRun(ctx, cfg, env, r, "", false))
}

// deploymentKill is the failover scenario's Kill on a target: its kill
// method (docker kill, or the lb's admin kill), then a restart.
type deploymentKill struct{ d *target.Deployment }

func (k deploymentKill) How() string { return k.d.KillMethod() }

// Mode names the kill mode this amounts to (see target.Deployment.Mode).
func (k deploymentKill) Mode() string { return k.d.Mode() }

func (k deploymentKill) Down(ctx context.Context, inst lb.InstanceInfo) error {
	if err := k.d.Kill(ctx, inst.ID); err != nil {
		return fmt.Errorf("kill %s: %w", inst.ID, err)
	}
	return nil
}

func (k deploymentKill) Up(ctx context.Context, inst lb.InstanceInfo) error {
	if err := k.d.Revive(ctx, inst.ID); err != nil {
		return fmt.Errorf("restart %s: %w", inst.ID, err)
	}
	return nil
}
