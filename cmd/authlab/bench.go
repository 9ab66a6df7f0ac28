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
	"github.com/authlab/authlab/bench/paired"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/bench/scenario"
	"github.com/authlab/authlab/bench/topology"
)

// Defaults of a paired comparison where they differ from a single run's.
const (
	pairedDefaultRate     = 100
	pairedDefaultDuration = 20 * time.Second
	pairedDefaultRounds   = 3
)

// runBench is `authlab bench`: with one strategy, start the topology,
// drive the scenarios, write results/<strategy>/<run-id>/; with several
// (--strategy all, or a,b,…), the paired comparison in rounds, written to
// results/paired/<run-id>/.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strategy := fs.String("strategy", catalog.Default(), "strategy under test: "+strings.Join(catalog.Strategies(), "|")+
		"; several (a,b,… or all): the paired comparison, every strategy's pool and a second "+catalog.Control()+" pool (A/A) loaded at once")
	scenarios := fs.String("scenario", strings.Join(scenario.DefaultNames(), ","), "comma-separated scenarios: "+strings.Join(scenario.Names(scenario.All()), ",")+" (or all); one strategy only. "+
		scenario.MixedName+": realistic traffic in one phase — of the requests that are not logouts, 70% GET /api/me and 24% GET /api/orders by the users, 4% GET /api/admin/stats by the administrator, 2% GET /api/admin/stats by a normal user (must be 403); --mixed-logout-share of logout-then-login cycles; jwt users refresh ahead of expiry (--refresh-ahead); per route: status classes, p50/p99 and requests that failed when they should not (a 2xx on the admin path for a normal user is an authorization failure)")
	rate := fs.Float64("rate", 200, fmt.Sprintf("requests per second of every load scenario (constant rate, open model); paired: per pool (default %d)", pairedDefaultRate))
	duration := fs.Duration("duration", 30*time.Second, fmt.Sprintf("length of every load scenario; paired: of each round's measured window (default %s)", pairedDefaultDuration))
	users := fs.Int("users", 200, "distinct users, each with its own credential; paired: per pool")
	instances := fs.Int("instances", 3, "gateway instances behind the lb; paired: per pool")
	rounds := fs.Int("rounds", pairedDefaultRounds, "paired: rounds, each on a fresh topology")
	warmup := fs.Duration("warmup", 2*time.Second, "paired: unmeasured load before each round's window")
	listScenarios := fs.Bool("list-scenarios", false, "print the scenario names, one per line, and exit")
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
	if *listScenarios {
		for _, n := range scenario.Names(scenario.All()) {
			fmt.Fprintln(stdout, n)
		}
		return nil
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	strategies := strategyList(*strategy)
	if len(strategies) == 0 {
		return errors.New("--strategy: no strategy given")
	}
	if len(strategies) == 1 && set["rounds"] {
		return fmt.Errorf("--rounds applies to a paired comparison (--strategy all, or a,b,…); --strategy %s is a single run", *strategy)
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
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if len(strategies) > 1 {
		if set["scenario"] {
			return errors.New("--scenario applies to one strategy; a paired comparison measures latency side by side (run the event scenarios per strategy)")
		}
		pc := paired.Config{
			Strategies: strategies, Rounds: *rounds, Rate: *rate, Duration: *duration, Warmup: *warmup, Users: *users,
			Instances: *instances, BcryptCost: *bcryptCost, Path: *path, GatewayArgs: strings.Fields(*gatewayArgs),
			OutDir: *out, Exe: exe, RedisURL: redisURLOrEnv(*redisURL),
			Flags: flags, Progress: stderr, Terminal: isTerminalWriter(stderr), Logger: logger,
		}
		if set["seed"] {
			pc.Seed = extras.seed // else from the clock (recorded)
		}
		netFlags.applyPaired(&pc)
		if set["user-skew"] {
			return errors.New("--user-skew applies to one strategy; the paired comparison gives every user of a pool an equal share")
		}
		if !set["rate"] {
			pc.Rate = pairedDefaultRate
		}
		if !set["duration"] {
			pc.Duration = pairedDefaultDuration
		}
		if *policy != "" {
			return errors.New("--policy applies to one strategy; each pool of a paired comparison uses its strategy's policy")
		}
		if err := refuseSet(set, "with several strategies (a paired comparison measures latency side by side; these apply to one strategy's run)",
			"target", "target-admin", "target-compose", "target-kill", "target-admin-token-file", "target-password-file",
			"redis", "redis-latency", "redis-jitter", "redis-rtt-steps", "floor", "micro", "batch", "kill-mode", "lb-retry", "freeze-for",
			"cost-rates", "cost-window", "mixed-logout-share", "refresh-ahead", "revocation-sample", "revocation-timeout", "capacity-p99", "capacity-step", "capacity-budget"); err != nil {
			return err
		}
		return runPaired(ctx, pc, stdout)
	}
	cfg := bench.Config{
		Strategy: strategies[0], Scenarios: scenarioList(*scenarios), Rate: *rate, Duration: *duration, Users: *users,
		Instances: *instances, Policy: *policy, OutDir: *out, Exe: exe, RedisURL: redisURLOrEnv(*redisURL), RedisDeployment: *redisDeploy,
		BcryptCost: *bcryptCost, Path: *path, GatewayArgs: strings.Fields(*gatewayArgs),
		RevocationSample: *revSample, RevocationTimeout: *revTimeout,
		CapacityP99: *capP99, CapacityStep: *capStep, CapacityBudget: *capBudget, Failover: *failover,
		Flags: flags, Progress: stderr, Terminal: isTerminalWriter(stderr),
		Logger: logger,
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
		if err := refuseSet(set, "with --target (the deployment is not started here: its Redis, gateways, policy and lb are its own)",
			"redis", "redis-url", "redis-latency", "redis-jitter", "upstream-latency", "upstream-jitter", "gateway-args", "bcrypt-cost", "policy", "instances",
			"kill-mode", "freeze-for"); err != nil {
			return err
		}
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
			fmt.Fprintf(stdout, "\n%s\n", report.StandAloneNote)
			fmt.Fprintf(stdout, "\nreport: %s\n", filepath.Join(dir, "report.md"))
		}
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted: %w (everything started was stopped)", err)
	}
	return err
}

// runPaired runs the paired comparison and prints its summary.
func runPaired(ctx context.Context, cfg paired.Config, stdout io.Writer) error {
	run, dir, err := paired.Run(ctx, cfg)
	if run != nil && len(run.Rounds) > 0 {
		fmt.Fprintln(stdout)
		report.PrintPairedSummary(stdout, run)
		fmt.Fprintf(stdout, "\nreport: %s\n", filepath.Join(dir, report.PairedMDFile))
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted: %w (everything started was stopped)", err)
	}
	return err
}

// strategyList parses --strategy: one name, a comma-separated list, or
// all.
func strategyList(flag string) []string {
	if flag == "all" {
		return catalog.Strategies()
	}
	var out []string
	for _, s := range strings.Split(flag, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
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

// refuseSet returns an error naming the flags of names that were set on
// the command line, which do not apply in the situation why describes.
func refuseSet(set map[string]bool, why string, names ...string) error {
	var bad []string
	for _, n := range names {
		if set[n] {
			bad = append(bad, "--"+n)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	verb := "do not apply"
	if len(bad) == 1 {
		verb = "does not apply"
	}
	return fmt.Errorf("%s %s %s", strings.Join(bad, ", "), verb, why)
}
