package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/authlab/authlab/bench"
	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/bench/scenario"
	"github.com/authlab/authlab/bench/topology"
)

// runBench is `authlab bench`: start the topology, drive the scenarios,
// write results/<strategy>/<run-id>/.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strategy := fs.String("strategy", catalog.Default(), "strategy under test: "+strings.Join(catalog.Strategies(), "|"))
	scenarios := fs.String("scenario", strings.Join(scenario.DefaultNames(), ","), "comma-separated scenarios: "+strings.Join(scenario.Names(scenario.All()), ",")+" (or all)")
	rate := fs.Float64("rate", 200, "requests per second of every load scenario (constant rate, open model)")
	duration := fs.Duration("duration", 30*time.Second, "length of every load scenario")
	users := fs.Int("users", 200, "distinct users, each with its own credential")
	instances := fs.Int("instances", 3, "gateway instances behind the lb")
	policy := fs.String("policy", "", policyUsage())
	out := fs.String("out", "results", "results directory; the run goes to <out>/<strategy>/<run-id>/")
	redisURL := fs.String("redis-url", "", "external Redis (default $REDIS_URL); empty: the harness starts its own")
	redisDeploy := fs.String("redis", topology.RedisSingle, "the Redis the harness starts: "+strings.Join(topology.RedisDeployments(), "|")+" (cluster: 3 masters + 3 replicas, sentinel: master + 2 replicas + 3 sentinels, from local redis-server processes; the redis-failover scenario needs one of them)")
	bcryptCost := fs.Int("bcrypt-cost", 4, "bcrypt cost of the seeded users (low so logins do not dominate; recorded)")
	path := fs.String("path", load.DefaultPath, "request every user repeats")
	gatewayArgs := fs.String("gateway-args", "", "extra flags for every gateway, space-separated (e.g. \"--jwt-denylist\")")
	revSample := fs.Int("revocation-sample", 0, "users logged out by the revocation scenario (default min(20, users/10))")
	revTimeout := fs.Duration("revocation-timeout", 10*time.Second, "how long revocation polls an instance before counting the credential as not revoked")
	capP99 := fs.Duration("capacity-p99", 50*time.Millisecond, "capacity: the p99 latency bound")
	capStep := fs.Duration("capacity-step", 5*time.Second, "capacity: length of each rate step")
	capBudget := fs.Duration("capacity-budget", 60*time.Second, "capacity: total time allowed")
	extras := registerBenchExtras(fs)
	netFlags := registerBenchNet(fs)
	failover := registerFailoverFlags(fs)
	tf := registerTargetFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	flags := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { flags[f.Name] = f.Value.String() })
	if flags["redis-url"] != "" {
		flags["redis-url"] = "(external, redacted)"
	}
	cfg := bench.Config{
		Strategy: *strategy, Scenarios: scenarioList(*scenarios), Rate: *rate, Duration: *duration, Users: *users,
		Instances: *instances, Policy: *policy, OutDir: *out, Exe: exe, RedisURL: redisURLOrEnv(*redisURL), RedisDeployment: *redisDeploy,
		BcryptCost: *bcryptCost, Path: *path, GatewayArgs: strings.Fields(*gatewayArgs),
		RevocationSample: *revSample, RevocationTimeout: *revTimeout,
		CapacityP99: *capP99, CapacityStep: *capStep, CapacityBudget: *capBudget, Failover: *failover,
		Flags: flags, Progress: stderr, Terminal: isTerminalWriter(stderr),
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	extras.apply(&cfg)
	netFlags.apply(&cfg)
	var (
		r   *report.Report
		dir string
	)
	if tf.url == "" {
		r, dir, err = bench.Run(ctx, cfg)
	} else {
		tc, terr := tf.config(ctx)
		if terr != nil {
			return terr
		}
		r, dir, err = bench.RunTarget(ctx, cfg, tc)
	}
	if r != nil && dir != "" {
		if _, statErr := os.Stat(filepath.Join(dir, "report.md")); statErr == nil {
			fmt.Fprintf(stdout, "\n")
			report.PrintSummary(stdout, r)
			fmt.Fprintf(stdout, "\nreport: %s\n", filepath.Join(dir, "report.md"))
		}
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted: %w (everything started was stopped)", err)
	}
	return err
}

// scenarioList parses --scenario: a comma-separated list, or all.
func scenarioList(flag string) []string {
	if flag == "all" {
		return scenario.Names(scenario.All())
	}
	list := strings.Split(flag, ",")
	for i := range list {
		list[i] = strings.TrimSpace(list[i])
	}
	return list
}

// policyUsage documents --policy of bench and up.
func policyUsage() string {
	return fmt.Sprintf("lb policy: %s (default: %s for the %s strategy, %s otherwise)",
		strings.Join(catalog.Policies(), "|"), catalog.DefaultPolicy(catalog.FirstNeedingStickyLB()), catalog.FirstNeedingStickyLB(), catalog.PolicyRoundRobin)
}

// isTerminalWriter reports whether w is a terminal.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && load.IsTerminal(f)
}
