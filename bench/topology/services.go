package topology

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/authlab/authlab/internal/proc"
)

// How long each kind of service may take to become ready. The lb is ready
// once every gateway it starts is.
const (
	serviceReadyTimeout = 30 * time.Second
	lbReadyTimeout      = 60 * time.Second
)

// lbStopTimeout is the lb's grace between SIGTERM and SIGKILL. The lb's
// own orderly stop takes its whole --stop-timeout (5 s) and a little more
// whenever a client holds a connection it opened without sending a request
// (net/http's Shutdown waits 5 s for those); it stops its gateways
// meanwhile, each with the same grace. With the default 5 s here too, the
// group SIGKILLed lbs right at the end of that stop ("child did not stop
// on SIGTERM; killed child=lb").
const lbStopTimeout = 10 * time.Second

// StartAuth starts the auth service with seedUsers users (the group's
// Password) and admin (AdminPassword), hashed at bcryptCost; it returns its
// URL.
func (g *Group) StartAuth(ctx context.Context, seedUsers, bcryptCost int) (string, error) {
	_, addrs, err := g.Start(ctx, Service{
		Name: "auth", Env: g.secrets.authEnv(), Addrs: []string{""}, ReadyTimeout: serviceReadyTimeout,
		Args: func(a []string) []string {
			return []string{"auth", "--listen", a[0], "--seed-users", strconv.Itoa(seedUsers),
				"--bcrypt-cost", strconv.Itoa(bcryptCost)}
		},
	})
	if err != nil {
		return "", err
	}
	return "http://" + addrs[0], nil
}

// StartBackend starts the backend service; it returns its URL.
func (g *Group) StartBackend(ctx context.Context) (string, error) {
	_, addrs, err := g.Start(ctx, Service{
		Name: "backend", Env: g.secrets.backendEnv(), Addrs: []string{""}, ReadyTimeout: serviceReadyTimeout,
		Args: func(a []string) []string { return []string{"backend", "--listen", a[0]} },
	})
	if err != nil {
		return "", err
	}
	return "http://" + addrs[0], nil
}

// Gateways describes gateway instances: their strategy, the services they
// call and the Redis they use.
type Gateways struct {
	Strategy            string
	AuthURL, BackendURL string
	// RedisURL may hold a password: it travels by environment.
	RedisURL string
	// Args are extra gateway flags.
	Args []string
}

// args are the gateway flags every instance gets.
func (gw Gateways) args() []string {
	args := []string{"--strategy", gw.Strategy, "--auth-url", gw.AuthURL, "--backend-url", gw.BackendURL}
	return append(args, gw.Args...)
}

func (gw Gateways) env() []string {
	if gw.RedisURL == "" {
		return nil
	}
	return []string{"AUTHLAB_REDIS_URL=" + gw.RedisURL}
}

// StartGateway starts one gateway on its own (not through an lb) as
// instance id; it returns its data and admin addresses.
func (g *Group) StartGateway(ctx context.Context, id string, gw Gateways) (data, admin string, err error) {
	_, addrs, err := g.Start(ctx, Service{
		Name: id, Env: append(g.secrets.gatewayEnv(), gw.env()...), Addrs: []string{"", ""}, ReadyTimeout: serviceReadyTimeout,
		Args: func(a []string) []string {
			return append([]string{"gateway", "--listen", a[0], "--admin-listen", a[1], "--instance-id", id}, gw.args()...)
		},
	})
	if err != nil {
		return "", "", err
	}
	return addrs[0], addrs[1], nil
}

// LB describes an lb.
type LB struct {
	// Name names it in logs and its output's prefix (default "lb"); a
	// topology with several lbs gives each its own.
	Name string
	// Listen and AdminListen are its data and admin addresses ("": free
	// loopback ports).
	Listen, AdminListen string
	Policy              string
	// Instances is how many gateways the lb starts itself, as Gateways
	// describes them.
	Instances int
	Gateways  Gateways
	// External are instances it did not start, DATA@ADMIN.
	External []string
	// Args are extra lb flags.
	Args []string
	// Path is the lb's executable (default the group's authlab binary):
	// another build of authlab, to compare two builds of the lb.
	Path string
}

// StartLB starts an lb and waits until it answers /healthz on its data
// port (through a gateway: once every gateway it starts is ready). It
// returns the process and its data and admin addresses.
func (g *Group) StartLB(ctx context.Context, l LB) (p *proc.Process, data, admin string, err error) {
	env := g.secrets.lbEnv(l.Instances > 0)
	if l.Instances > 0 {
		env = append(env, l.Gateways.env()...)
	}
	name := l.Name
	if name == "" {
		name = "lb"
	}
	p, addrs, err := g.Start(ctx, Service{
		Name: name, Path: l.Path, Env: env, Addrs: []string{l.Listen, l.AdminListen},
		ReadyTimeout: lbReadyTimeout, StopTimeout: lbStopTimeout,
		Args: func(a []string) []string {
			args := []string{"lb", "--listen", a[0], "--admin-listen", a[1], "--instances", strconv.Itoa(l.Instances)}
			if len(l.External) > 0 {
				args = append(args, "--instance-addr", strings.Join(l.External, ","))
			}
			args = append(args, "--policy", l.Policy)
			args = append(args, l.Args...)
			if l.Instances > 0 {
				args = append(append(args, "--"), l.Gateways.args()...)
			}
			return args
		},
	})
	if err != nil {
		return nil, "", "", err
	}
	return p, addrs[0], addrs[1], nil
}
