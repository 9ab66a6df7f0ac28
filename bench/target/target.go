// Package target is a deployment the harness did not start — the compose
// deployment, or any lb with gateways behind it — seen through the lb's
// data and admin addresses. It lists the gateways through the lb's admin
// API and takes them down the way a real failure would: `docker kill` of
// the gateway's container (the lb learns only from failed requests and its
// health checks), or the lb's own admin kill; it cuts a gateway off from
// Redis with `docker network disconnect` and heals it.
package target

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/authlab/authlab/bench/topology"
	"github.com/authlab/authlab/deploy"
	"github.com/authlab/authlab/lb"
)

// Ways of killing a gateway of a target (Config.Kill).
const (
	// KillDocker is `docker kill` of the gateway's container: a crash
	// the lb is not told about.
	KillDocker = "docker"
	// KillLB is the lb's admin kill (POST /_lb/instances/{id}/kill; for a
	// gateway the lb did not start, it calls the gateway's /_admin/exit).
	KillLB = "lb"
)

// Config says where the deployment is and how to act on it.
type Config struct {
	// LBURL is the lb's data address (http://127.0.0.1:8000).
	LBURL string
	// AdminURL is the lb's admin address (http://127.0.0.1:8001) and
	// AdminToken its bearer token.
	AdminURL, AdminToken string
	// Kill is KillDocker or KillLB (default KillDocker when Project is
	// set, else KillLB).
	Kill string
	// Project is the compose project whose containers are the gateways
	// (named as the lb names its instances: gw1, gw2, …); nil when the
	// deployment is not a compose project of this machine's engine.
	Project *deploy.Project
}

// Validate checks c and fills defaults.
func (c *Config) Validate() error {
	for name, u := range map[string]string{"--target": c.LBURL, "--target-admin": c.AdminURL} {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("%s %q: want http://host:port", name, u)
		}
	}
	c.LBURL, c.AdminURL = strings.TrimRight(c.LBURL, "/"), strings.TrimRight(c.AdminURL, "/")
	if c.AdminToken == "" {
		return errors.New("the target lb's admin token is missing (AUTHLAB_LB_ADMIN_TOKEN, or --target-admin-token-file)")
	}
	if c.Kill == "" {
		c.Kill = KillLB
		if c.Project != nil {
			c.Kill = KillDocker
		}
	}
	if !slices.Contains([]string{KillDocker, KillLB}, c.Kill) {
		return fmt.Errorf("--target-kill %q: want %s or %s", c.Kill, KillDocker, KillLB)
	}
	if c.Kill == KillDocker && c.Project == nil {
		return errors.New("--target-kill docker needs --target-compose (the compose project holding the gateways)")
	}
	return nil
}

// Deployment is a running deployment behind an lb.
type Deployment struct {
	cfg   Config
	admin *topology.LBAdmin
}

// New returns the deployment c describes, after checking that its lb's
// admin API answers with the token.
func New(ctx context.Context, c Config) (*Deployment, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	d := &Deployment{cfg: c, admin: topology.NewLBAdmin(c.AdminURL, c.AdminToken)}
	insts, err := d.admin.Instances(ctx)
	if err != nil {
		return nil, fmt.Errorf("target lb admin API %s: %w", c.AdminURL, err)
	}
	if len(insts) == 0 {
		return nil, fmt.Errorf("target lb %s lists no gateway", c.AdminURL)
	}
	return d, nil
}

// LBURL is the data address the load goes to.
func (d *Deployment) LBURL() string { return d.cfg.LBURL }

// Label names the target in reports.
func (d *Deployment) Label() string {
	s := d.cfg.LBURL
	if p := d.cfg.Project; p != nil {
		s += " (compose project " + p.Name + ")"
	}
	return s
}

// KillMethod says how Kill takes a gateway down.
func (d *Deployment) KillMethod() string {
	if d.cfg.Kill == KillDocker {
		return "docker kill of the gateway's container (a crash the lb is not told about)"
	}
	return "the lb's admin kill"
}

// Instances lists the gateways as the lb's admin API does.
func (d *Deployment) Instances(ctx context.Context) ([]lb.InstanceInfo, error) {
	return d.admin.Instances(ctx)
}

// Kill takes gateway id down (Config.Kill).
func (d *Deployment) Kill(ctx context.Context, id string) error {
	if d.cfg.Kill == KillDocker {
		return d.cfg.Project.Kill(ctx, id)
	}
	return d.admin.Kill(ctx, id, "sigkill")
}

// Revive starts gateway id again: its container (`docker start`; the lb
// brings it back into rotation after its health checks pass), or through
// the lb's admin API for a deployment that is not a compose project.
func (d *Deployment) Revive(ctx context.Context, id string) error {
	if d.cfg.Project == nil {
		// Only the lb's state: nothing here can restart the process.
		return d.admin.Revive(ctx, id)
	}
	if err := d.cfg.Project.Start(ctx, id); err != nil {
		return err
	}
	if d.cfg.Kill == KillLB {
		// The lb's own kill left it "killed": only its revive routes to it again.
		return d.admin.Revive(ctx, id)
	}
	return nil
}

// Mode is the failover kill mode Kill amounts to: docker kill is a crash
// the lb learns of by itself; the lb's admin kill marks the gateway down
// first (announced).
func (d *Deployment) Mode() string {
	if d.cfg.Kill == KillDocker {
		return "crash"
	}
	return "announced"
}

// Events returns the lb's events after sequence number since (the
// failover scenario reads when the lb marked the victim down).
func (d *Deployment) Events(ctx context.Context, since uint64) ([]lb.Event, error) {
	return d.admin.Events(ctx, since)
}

// Retry reports whether the lb retries a failed request elsewhere.
func (d *Deployment) Retry(ctx context.Context) (bool, error) { return d.admin.Retry(ctx) }

// SetRetry switches the lb's retry.
func (d *Deployment) SetRetry(ctx context.Context, on bool) error { return d.admin.SetRetry(ctx, on) }

// CanPartition reports whether Cut and Heal work (a compose project).
func (d *Deployment) CanPartition() bool { return d.cfg.Project != nil }

// Cut disconnects gateway id from the network it shares with Redis.
func (d *Deployment) Cut(ctx context.Context, id string) error {
	if d.cfg.Project == nil {
		return errors.New("cutting a gateway off needs --target-compose")
	}
	return d.cfg.Project.Disconnect(ctx, id, deploy.NetworkStore)
}

// Heal reconnects gateway id to Redis's network.
func (d *Deployment) Heal(ctx context.Context, id string) error {
	if d.cfg.Project == nil {
		return errors.New("healing a gateway needs --target-compose")
	}
	return d.cfg.Project.Connect(ctx, id, deploy.NetworkStore)
}
