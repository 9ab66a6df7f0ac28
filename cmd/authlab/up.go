package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/authlab/authlab/bench"
)

// runUp is `authlab up`: the benchmark topology for hands-on use, until
// Ctrl-C.
func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strategy := fs.String("strategy", "jwt", "strategy: "+strings.Join(bench.Strategies, "|"))
	instances := fs.Int("instances", 3, "gateway instances behind the lb")
	policy := fs.String("policy", "", "lb policy: round-robin|least-conn|sticky (default: sticky for the sticky strategy, round-robin otherwise)")
	listen := fs.String("listen", "127.0.0.1:8000", "the lb's address")
	users := fs.Int("users", 1000, "seeded users user0001…")
	redisURL := fs.String("redis-url", os.Getenv("REDIS_URL"), "external Redis (default $REDIS_URL); empty: start one")
	gatewayArgs := fs.String("gateway-args", "", "extra flags for every gateway, space-separated")
	logLevel := fs.String("log-level", "info", "log level of every process: debug, info, warn, error")
	quiet := fs.Bool("quiet", false, "do not show the processes' logs")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	var output io.Writer = stderr
	if *quiet {
		output = io.Discard
	}
	fmt.Fprintf(stderr, "starting redis, auth, backend and the lb with %d %s gateways…\n", *instances, *strategy)
	topo, err := bench.StartTopology(ctx, bench.TopologyConfig{
		Exe: exe, Strategy: *strategy, Instances: *instances, Policy: *policy, SeedUsers: *users,
		RedisURL: *redisURL, LBListen: *listen, GatewayArgs: strings.Fields(*gatewayArgs),
		LogLevel: *logLevel, Output: output,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	defer topo.Close()
	insts, err := topo.Instances(ctx)
	if err != nil {
		return err
	}
	printUp(stdout, topo, *strategy, insts)
	<-ctx.Done()
	fmt.Fprintln(stderr, "\nstopping everything…")
	return nil
}

func printUp(w io.Writer, t *bench.Topology, strategy string, insts []bench.Instance) {
	lb := t.LBURL
	var ids []string
	for _, in := range insts {
		ids = append(ids, fmt.Sprintf("%s (%s, pid %d)", in.ID, in.Address, in.PID))
	}
	victim := "gw1"
	if len(insts) > 0 {
		victim = insts[len(insts)/2].ID
	}
	login := fmt.Sprintf(`curl -si -X POST %s/auth/login -H 'Content-Type: application/json' -d '{"username":"user0001","password":"%s"}'`, lb, t.Password)
	fmt.Fprintf(w, `
authlab is up — strategy %s
  lb:           %s
  gateways:     %s
  admin token:  %s
  users:        user0001… with password %s (and admin / %s)
  redis:        %s (%s %s)

Try:
`, strategy, lb, strings.Join(ids, ", "), t.AdminToken, t.Password, t.AdminPassword, t.RedisURL, t.RedisKind, t.RedisVersion)
	switch strategy {
	case "sticky", "redis-session":
		fmt.Fprintf(w, "  %s -c /tmp/authlab.jar\n", login)
		fmt.Fprintf(w, "  curl -si -b /tmp/authlab.jar -c /tmp/authlab.jar %s/api/me     # see X-Authlab-Instance\n", lb)
	case "none":
		fmt.Fprintf(w, "  curl -si %s/api/me     # no credential: the anonymous principal\n", lb)
	default:
		fmt.Fprintf(w, "  TOKEN=$(%s | sed -n 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/p')\n", strings.Replace(login, "curl -si", "curl -s", 1))
		fmt.Fprintf(w, "  curl -si -H \"Authorization: Bearer $TOKEN\" %s/api/me     # see X-Authlab-Instance\n", lb)
	}
	fmt.Fprintf(w, "  curl -s -H 'Authorization: Bearer %s' %s/_lb/instances\n", t.AdminToken, lb)
	fmt.Fprintf(w, "  curl -s -X POST -H 'Authorization: Bearer %s' '%s/_lb/instances/%s/kill?mode=sigkill'\n", t.AdminToken, lb, victim)
	fmt.Fprintf(w, "  curl -s -X POST -H 'Authorization: Bearer %s' %s/_lb/instances/%s/revive\n", t.AdminToken, lb, victim)
	fmt.Fprintf(w, "\nCtrl-C stops everything.\n")
}
