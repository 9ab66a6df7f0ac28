package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/authlab/authlab/bench"
	"github.com/authlab/authlab/bench/target"
	"github.com/authlab/authlab/deploy"
)

// targetFlags are bench's flags for a deployment it did not start.
type targetFlags struct {
	url, admin, kill, compose string
	tokenFile, passwordFile   string
}

func registerTargetFlags(fs *flag.FlagSet) *targetFlags {
	t := &targetFlags{}
	fs.StringVar(&t.url, "target", "", "run against a deployment the harness did not start: its lb's data URL (e.g. http://127.0.0.1:8000 of make compose-up); nothing is started")
	fs.StringVar(&t.admin, "target-admin", "http://127.0.0.1:8001", "with --target: the lb's admin URL; its token is read from AUTHLAB_LB_ADMIN_TOKEN or --target-admin-token-file")
	fs.StringVar(&t.tokenFile, "target-admin-token-file", "", "with --target: file holding the lb's admin token (default: $AUTHLAB_LB_ADMIN_TOKEN)")
	fs.StringVar(&t.passwordFile, "target-password-file", "", "with --target: file holding the seeded users' password (default: $AUTHLAB_SEED_PASSWORD)")
	fs.StringVar(&t.compose, "target-compose", "", "with --target: the compose project holding the gateways (docker kill, docker network disconnect act on its containers)")
	fs.StringVar(&t.kill, "target-kill", "", "with --target: how failover kills a gateway: "+target.KillDocker+" (docker kill of its container; default with --target-compose) or "+target.KillLB+" (the lb's admin kill)")
	return t
}

// config resolves the target flags and their secrets.
func (t *targetFlags) config(ctx context.Context) (bench.TargetConfig, error) {
	token, err := secretFrom(t.tokenFile, "AUTHLAB_LB_ADMIN_TOKEN")
	if err != nil {
		return bench.TargetConfig{}, err
	}
	password, err := secretFrom(t.passwordFile, "AUTHLAB_SEED_PASSWORD")
	if err != nil {
		return bench.TargetConfig{}, err
	}
	tc := bench.TargetConfig{Password: password, Target: target.Config{LBURL: t.url, AdminURL: t.admin, AdminToken: token, Kill: t.kill}}
	if t.compose != "" {
		tool, err := deploy.FindTool(ctx)
		if err != nil {
			return tc, fmt.Errorf("--target-compose: %w", err)
		}
		wd, err := os.Getwd()
		if err != nil {
			return tc, fmt.Errorf("--target-compose: %w", err)
		}
		p := deploy.Project{Name: t.compose, Dir: wd, Tool: tool}
		tc.Target.Project = &p
	}
	return tc, nil
}

// secretFrom reads a secret from file (trimmed) or, without one, from the
// environment variable env.
func secretFrom(file, env string) (string, error) {
	if file == "" {
		return os.Getenv(env), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
