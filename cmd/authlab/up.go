package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/topology"
	"github.com/authlab/authlab/internal/secret"
	"github.com/authlab/authlab/lb"
	"github.com/authlab/authlab/services/auth"
	"github.com/authlab/authlab/strategies"
)

// runUp is `authlab up`: the benchmark topology for hands-on use, until
// Ctrl-C.
func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strategy := fs.String("strategy", catalog.Default(), "strategy: "+strings.Join(catalog.Strategies(), "|"))
	instances := fs.Int("instances", 3, "gateway instances behind the lb")
	policy := fs.String("policy", "", policyUsage())
	listen := fs.String("listen", "127.0.0.1:8000", "the lb's data address")
	adminListen := fs.String("admin-listen", "127.0.0.1:8001", "the lb's admin address (/_lb/*, /metrics)")
	users := fs.Int("users", 1000, "seeded users "+load.UserName(0)+"…")
	redisURL := fs.String("redis-url", "", "external Redis (default $REDIS_URL); empty: start one")
	gatewayArgs := fs.String("gateway-args", "", "extra flags for every gateway, space-separated")
	logLevel := fs.String("log-level", "info", "log level of every process: debug, info, warn, error")
	quiet := fs.Bool("quiet", false, "do not show the processes' logs")
	secretsDir := secretsDirFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := prepareSecretsDir(*secretsDir); err != nil {
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
	topo, err := topology.Start(ctx, topology.Config{
		Exe: exe, Strategy: *strategy, Instances: *instances, Policy: *policy, SeedUsers: *users,
		RedisURL: redisURLOrEnv(*redisURL), LBListen: *listen, LBAdminListen: *adminListen, GatewayArgs: strings.Fields(*gatewayArgs),
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
	envPath, err := secret.WriteEnvFile(*secretsDir, "authlab-up-*.env", upSecrets(topo))
	if err != nil {
		return err
	}
	defer os.Remove(envPath)
	printUp(stdout, topo, *strategy, insts, envPath)
	<-ctx.Done()
	fmt.Fprintln(stderr, "\nstopping everything…")
	return nil
}

// upSecrets are the variables of up's env file, named apart from every
// AUTHLAB_<FLAG> so that sourcing it configures no later authlab command.
func upSecrets(t *topology.Topology) []secret.EnvVar {
	return []secret.EnvVar{
		{Name: "AUTHLAB_UP_LB_TOKEN", Value: t.AdminToken, Comment: "bearer token of the lb's admin API " + t.LBAdminURL + "/_lb/*"},
		{Name: "AUTHLAB_UP_GW_TOKEN", Value: t.InstanceAdminToken, Comment: "bearer token of each gateway's /_admin/* (on its admin_address)"},
		{Name: "AUTHLAB_UP_PASSWORD", Value: t.Password, Comment: "password of " + load.UserName(0) + "…"},
		{Name: "AUTHLAB_UP_ADMIN_PASSWORD", Value: t.AdminPassword, Comment: "password of user admin"},
	}
}

// printUp tells the user what runs and gives curl lines to try. Secrets
// are not printed: the lines read them from the env file at envPath.
func printUp(w io.Writer, t *topology.Topology, strategy string, insts []lb.InstanceInfo, envPath string) {
	lbURL, admin, user := t.LBURL, t.LBAdminURL, load.UserName(0)
	var ids []string
	for _, in := range insts {
		ids = append(ids, fmt.Sprintf("%s (%s, admin %s, pid %d)", in.ID, in.Address, in.AdminAddress, in.PID))
	}
	victim := "gw1"
	gwAdmin := ""
	if len(insts) > 0 {
		victim = insts[len(insts)/2].ID
		gwAdmin = insts[0].AdminAddress
	}
	login := fmt.Sprintf(`curl -si -X POST %s/auth/login -H 'Content-Type: application/json' -d '{"username":"%s","password":"'"$AUTHLAB_UP_PASSWORD"'"}'`, lbURL, user)
	fmt.Fprintf(w, `
authlab is up — strategy %s
  lb:           %s   (admin API and metrics: %s)
  gateways:     %s
  users:        %s… and %s
  redis:        %s (%s %s)
  secrets:      %s (mode 0600, removed when up stops): the lb's and the
                gateways' admin tokens, the users' passwords

Try, in a shell that has loaded the secrets:
  . %s
`, strategy, lbURL, admin, strings.Join(ids, ", "), user, auth.AdminUser, t.RedisURL, t.RedisKind, t.RedisVersion, envPath, envPath)
	switch catalog.Transport(strategy) {
	case strategies.TransportCookie:
		fmt.Fprintf(w, "  %s -c /tmp/authlab.jar\n", login)
		fmt.Fprintf(w, "  curl -si -b /tmp/authlab.jar -c /tmp/authlab.jar %s/api/me     # see X-Authlab-Instance\n", lbURL)
	case strategies.TransportNone:
		fmt.Fprintf(w, "  curl -si %s/api/me     # no credential: the anonymous principal\n", lbURL)
	default:
		fmt.Fprintf(w, "  TOKEN=$(%s | sed -n 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/p')\n", strings.Replace(login, "curl -si", "curl -s", 1))
		fmt.Fprintf(w, "  curl -si -H \"Authorization: Bearer $TOKEN\" %s/api/me     # see X-Authlab-Instance\n", lbURL)
	}
	fmt.Fprintf(w, "  curl -s -H \"Authorization: Bearer $AUTHLAB_UP_LB_TOKEN\" %s/_lb/instances\n", admin)
	fmt.Fprintf(w, "  curl -s -X POST -H \"Authorization: Bearer $AUTHLAB_UP_LB_TOKEN\" '%s/_lb/instances/%s/kill?mode=sigkill'\n", admin, victim)
	fmt.Fprintf(w, "  curl -s -X POST -H \"Authorization: Bearer $AUTHLAB_UP_LB_TOKEN\" %s/_lb/instances/%s/revive\n", admin, victim)
	fmt.Fprintf(w, "  curl -s %s/metrics | grep '^authlab_lb_'\n", admin)
	if gwAdmin != "" {
		fmt.Fprintf(w, "  curl -s -H \"Authorization: Bearer $AUTHLAB_UP_GW_TOKEN\" http://%s/_admin/stats     # one gateway, on its admin address\n", gwAdmin)
	}
	fmt.Fprintf(w, "\nCtrl-C stops everything.\n")
}
