package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/authlab/authlab/internal/cliflag"
	"github.com/authlab/authlab/internal/httpserver"
	"github.com/authlab/authlab/internal/proc"
	"github.com/authlab/authlab/internal/secret"
	"github.com/authlab/authlab/lb"
)

// sharedGatewaySecrets are the gateway secrets every instance must share.
// When neither the gateway arguments (after --) nor the environment give
// one, the lb generates it (with a warning) and hands it to every child
// through its environment.
func sharedGatewaySecrets() []string {
	return []string{"assertion-key", "fingerprint-key", "jwt-secret", "jwt-ed25519-seed"}
}

// gatewaySecretFlags are the gateway flags holding a secret: given after
// --, they are moved from the children's arguments to their environment.
func gatewaySecretFlags() []string {
	return append([]string{"admin-token"}, sharedGatewaySecrets()...)
}

// lbOnlySecrets are the lb's own secrets, kept out of its children's
// environment.
func lbOnlySecrets() []string {
	return []string{"admin-token", "instance-admin-token", "cookie-key"}
}

// listFlag is a repeatable string flag; a value may also be a
// comma-separated list (handy in an environment variable).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// runLB is `authlab lb`: the load balancer in front of gateway instances it
// starts itself (copies of this executable) and/or external ones.
func runLB(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseLBFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := prepareSecretsDir(*f.secretsDir); err != nil {
		return err
	}
	if err := f.parseInstances(); err != nil {
		return err
	}
	logger, err := httpserver.NewLogger(stderr, f.logLevel)
	if err != nil {
		return err
	}
	logger = logger.With("service", "lb")
	stopProfile, err := f.tuneRuntime()
	if err != nil {
		return err
	}
	defer stopProfile()
	generated, err := f.resolveSecrets(logger)
	if err != nil {
		return err
	}
	if err := f.childCommand(logger, &generated); err != nil {
		return err
	}
	removeSecrets, err := writeSecrets(stdout, *f.secretsDir, "lb", envVars(generated))
	if err != nil {
		return err
	}
	defer removeSecrets()
	f.cfg.ChildOutput, f.cfg.Logger = stderr, logger
	l, err := lb.New(f.cfg)
	if err != nil {
		return err
	}
	return f.serve(ctx, l, logger, stdout)
}

// lbFlags are `authlab lb`'s flags. Those that configure the load balancer
// directly are parsed into cfg; the rest are resolved into it by runLB's
// steps.
type lbFlags struct {
	cfg                 lb.Config
	listen, adminListen string
	external            listFlag
	front               lbFront
	gwArgs              []string // after --: passed to every child gateway
	adminToken          string
	instanceAdminToken  string
	cookieKey           string
	logLevel            string
	gcPercent           int
	gomaxprocs          int
	cpuProfile          string
	secretsDir          *string
}

// parseLBFlags parses args (and the AUTHLAB_* environment) into lbFlags.
func parseLBFlags(args []string, stderr io.Writer) (*lbFlags, error) {
	fs := flag.NewFlagSet("lb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: authlab lb [flags] [-- gateway flags passed to every child]")
		fs.PrintDefaults()
	}
	f := &lbFlags{}
	f.register(fs)
	if err := cliflag.Parse(fs, args, os.LookupEnv); err != nil {
		return nil, err
	}
	f.gwArgs = fs.Args()
	return f, nil
}

func (f *lbFlags) register(fs *flag.FlagSet) {
	c := &f.cfg
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8000", "data address: the proxy (loopback by default)")
	fs.StringVar(&f.adminListen, "admin-listen", "127.0.0.1:8001", "admin address: /_lb/* admin API, /metrics, /healthz, /readyz (keep it on loopback)")
	fs.IntVar(&c.Instances, "instances", 3, "gateway instances to start as child processes (0: external instances only)")
	fs.StringVar((*string)(&c.Policy), "policy", string(lb.RoundRobin), lb.PolicyNames()+" (cookie "+lb.CookieName+")")
	fs.StringVar(&f.adminToken, "admin-token", "", "secret: bearer token of the admin API /_lb/* (random if empty, written to a 0600 file)")
	fs.StringVar(&f.instanceAdminToken, "instance-admin-token", "", "secret: the instances' admin token: handed to the children as AUTHLAB_ADMIN_TOKEN, sent to external instances' POST /_admin/exit; must differ from --admin-token (random if empty and every instance is a child)")
	fs.StringVar(&f.cookieKey, "cookie-key", "", "secret: HMAC key of the sticky cookie, at least 16 bytes (random dev value if empty)")
	fs.BoolVar(&c.Retry, "retry", false, "retry a failed request on another healthy instance when it was not sent, or is a GET/HEAD/OPTIONS (initial setting; POST /_lb/retry?enabled= switches it)")
	fs.BoolVar(&c.IgnoreExits, "ignore-exits", false, "leave a child whose process exits unasked in rotation: learn of its death only from failed requests and health checks, like an lb that does not supervise its instances (for crash measurements)")
	fs.Int64Var(&c.MaxRetryBody, "retry-body-max", 64<<10, "with --retry: largest request body (of declared length) buffered so it can be sent again; others are streamed and not retried")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", 5*time.Second, "a client must send its request line and headers within this")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", 30*time.Second, "a client must send its request body within this (once its headers are in); the response may take longer")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 120*time.Second, "close a keep-alive connection idle this long")
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", 32<<10, "larger request line and headers get 431")
	fs.DurationVar(&c.HealthInterval, "health-interval", time.Second, "active health check period")
	fs.DurationVar(&c.HealthTimeout, "health-timeout", 500*time.Millisecond, "one health check's timeout (a frozen instance is detected after health-fall timeouts)")
	fs.IntVar(&c.HealthFall, "health-fall", 2, "consecutive failed checks that take an instance out of rotation")
	fs.IntVar(&c.HealthRise, "health-rise", 2, "consecutive successful checks that bring it back")
	fs.StringVar(&c.HealthPath, "health-path", "/healthz", "path checked on every instance's data address")
	fs.DurationVar(&c.UpstreamTimeout, "upstream-timeout", 30*time.Second, "wait at most this long for an instance's response headers")
	fs.BoolVar(&c.AbortOnDown, "abort-on-down", false, "cut short the requests in flight to an instance when it is marked down (HAProxy's on-marked-down shutdown-sessions): they fail at once, retried with --retry, instead of waiting --upstream-timeout for a host that vanished without closing its connections")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 30*time.Second, "kill mode=drain: wait at most this long for in-flight requests")
	fs.DurationVar(&c.StartupTimeout, "startup-timeout", 30*time.Second, "wait at most this long for a started or revived instance to answer")
	fs.IntVar(&c.MaxIdleConnsPerHost, "max-idle-conns-per-host", 1024, "keep-alive connections kept per instance")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.IntVar(&f.gcPercent, "gc-percent", 400, "Go GC target percentage for the lb process (its live heap is small; a higher value trades a few MB for less GC CPU); -1 keeps GOGC/the runtime default")
	fs.IntVar(&f.gomaxprocs, "gomaxprocs", 0, "GOMAXPROCS for the lb process (0: the runtime default)")
	fs.Var(notFlag{&c.DisableFastPath}, "fast-path", "forward requests without a body inline over the lb's own keep-alive pool (false: everything through httputil.ReverseProxy)")
	fs.Var(notFlag{&c.DisableFastServe}, "fast-serve", "serve plain GET/HEAD requests with the lb's own HTTP/1.1 loop, everything else handed to net/http's server with its connection (false: net/http's server for every request)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the lb process to this file (for bench-lb analysis)")
	f.secretsDir = secretsDirFlag(fs)
	f.front.register(fs.DurationVar)
	fs.Var(&f.external, "instance-addr", "external gateway instance DATA[@ADMIN] (host:port; ADMIN serves its /_admin/exit, needed to kill it); repeatable, or comma-separated")
}

// parseInstances checks the gateway arguments and parses the external
// instances into cfg.External.
func (f *lbFlags) parseInstances() error {
	for _, a := range f.gwArgs {
		name := strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")
		if strings.HasPrefix(a, "-") && (name == "listen" || name == "admin-listen" || name == "instance-id") {
			return fmt.Errorf("gateway argument %q: the lb sets --listen, --admin-listen and --instance-id of its children itself", a)
		}
	}
	for _, s := range f.external {
		e, err := lb.ParseExternal(s)
		if err != nil {
			return fmt.Errorf("--instance-addr: %w", err)
		}
		f.cfg.External = append(f.cfg.External, e)
	}
	return f.front.apply(&f.cfg)
}

// tuneRuntime applies --cpuprofile, --gomaxprocs and --gc-percent. The
// returned function ends the profile.
func (f *lbFlags) tuneRuntime() (func(), error) {
	stop := func() {}
	if f.cpuProfile != "" {
		out, err := os.Create(f.cpuProfile)
		if err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			out.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		stop = func() {
			pprof.StopCPUProfile()
			out.Close()
		}
	}
	if f.gomaxprocs > 0 {
		runtime.GOMAXPROCS(f.gomaxprocs)
	}
	if f.gcPercent >= 0 {
		debug.SetGCPercent(f.gcPercent)
	}
	return stop, nil
}

// resolveSecrets resolves the admin token, the instances' admin token and
// the cookie key into cfg, generating what may be generated; it returns
// the generated ones that belong in the secrets file.
func (f *lbFlags) resolveSecrets(logger *slog.Logger) (generated []secretVar, err error) {
	token, gen, err := secret.Resolve(logger, "admin-token", f.adminToken, 16)
	if err != nil {
		return nil, err
	}
	if gen {
		generated = append(generated, secretVar{"AUTHLAB_LB_ADMIN_TOKEN", token,
			"the lb's admin token: curl -H \"Authorization: Bearer $AUTHLAB_LB_ADMIN_TOKEN\" http://" + f.adminListen + "/_lb/instances"})
	}
	instToken := f.instanceAdminToken
	if instToken == "" {
		if slices.ContainsFunc(f.cfg.External, func(e lb.External) bool { return e.AdminAddr != "" }) {
			return nil, errors.New("--instance-addr with an admin address needs --instance-admin-token (AUTHLAB_INSTANCE_ADMIN_TOKEN): the external instances' admin token")
		}
		if f.cfg.Instances > 0 {
			instToken = secret.Random()
			generated = append(generated, secretVar{cliflag.EnvName("instance-admin-token"), instToken,
				"the children's admin token (their /_admin/* on each instance's admin_address)"})
		}
	} else if len(instToken) < 16 {
		return nil, fmt.Errorf("--instance-admin-token is %d bytes, need at least 16", len(instToken))
	}
	key, _, err := secret.Resolve(logger, "cookie-key", f.cookieKey, 16)
	if err != nil {
		return nil, err
	}
	f.cfg.AdminToken, f.cfg.InstanceAdminToken, f.cfg.CookieKey = token, instToken, []byte(key)
	return generated, nil
}

// childCommand sets cfg.Command, when the lb starts children: a copy of
// this executable running `gateway` on the child's addresses, with the
// gateway arguments and, in its environment, the secrets the children
// share (those it generates are added to generated).
func (f *lbFlags) childCommand(logger *slog.Logger, generated *[]secretVar) error {
	if f.cfg.Instances <= 0 {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	env, childArgs, moved := childEnv(os.Environ(), f.gwArgs, f.cfg.InstanceAdminToken, func(name, value string) {
		logger.Warn("NO SHARED GATEWAY SECRET GIVEN: generated one for all children; services that must share it will not know it",
			"flag", "--"+name, "fix", "set "+cliflag.EnvName(name)+" for the lb and those services")
		*generated = append(*generated, secretVar{cliflag.EnvName(name), value, "generated for every gateway child; give the same to the services that share it"})
	})
	for _, name := range moved {
		logger.Warn("secret given as a gateway argument: handed to the children in their environment instead; give it as an environment variable to keep it out of the lb's arguments too",
			"flag", "--"+name, "env", cliflag.EnvName(name))
	}
	f.cfg.Command = func(c lb.Child) proc.Spec {
		a := append([]string{"gateway", "--listen", c.Addr, "--admin-listen", c.AdminAddr, "--instance-id", c.ID}, childArgs...)
		return proc.Spec{Path: exe, Args: a, Env: env}
	}
	return nil
}

// serve binds both planes (a taken port fails before any child starts),
// serves them at once (503 "starting" until the instances are ready),
// starts the instances and runs until ctx ends or a plane fails.
func (f *lbFlags) serve(ctx context.Context, l *lb.LB, logger *slog.Logger, stdout io.Writer) error {
	adminLn, err := net.Listen("tcp", f.adminListen)
	if err != nil {
		return fmt.Errorf("listen %s (--admin-listen): %w", f.adminListen, err)
	}
	dataLn, err := net.Listen("tcp", f.listen)
	if err != nil {
		adminLn.Close()
		return fmt.Errorf("listen %s: %w", f.listen, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return l.ServeAdmin(gctx, adminLn) })
	g.Go(func() error { return l.Serve(gctx, dataLn) })
	if err := l.Start(gctx); err != nil {
		cancel()
		_ = g.Wait()
		return err
	}
	defer l.Close()
	for _, in := range l.Instances() {
		logger.Info("instance", "id", in.ID, "addr", in.Address, "listen", in.ListenAddress, "front", in.Front, "admin_addr", in.AdminAddress, "pid", in.PID, "external", in.External)
	}
	logger.Info("lb listening", "addr", dataLn.Addr().String(), "admin_addr", adminLn.Addr().String(), "policy", f.cfg.Policy, "retry", f.cfg.Retry)
	fmt.Fprintf(stdout, "lb listening on http://%s (admin: http://%s)\n", dataLn.Addr(), adminLn.Addr())
	<-gctx.Done() // ctx ended, or a plane failed
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// secretVar is one generated secret for the env file.
type secretVar struct{ name, value, comment string }

func envVars(vs []secretVar) []secret.EnvVar {
	out := make([]secret.EnvVar, len(vs))
	for i, v := range vs {
		out[i] = secret.EnvVar{Name: v.name, Value: v.value, Comment: v.comment}
	}
	return out
}

// childEnv is what every child gets: the lb's environment without the lb's
// own secrets, plus AUTHLAB_ADMIN_TOKEN=instanceToken, plus any shared
// gateway secret that neither gwArgs nor env give (generated; onGenerate is
// told); and gwArgs without secret flags, whose values move to the
// environment (their names are returned in moved). No secret reaches a
// child's arguments.
func childEnv(env, gwArgs []string, instanceToken string, onGenerate func(name, value string)) (childEnv, childArgs, moved []string) {
	drop := map[string]bool{}
	for _, name := range lbOnlySecrets() {
		drop[cliflag.EnvName(name)] = true
	}
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); !drop[k] {
			childEnv = append(childEnv, e)
		}
	}
	given := map[string]string{} // secret flag → value from gwArgs
	secretFlag := map[string]bool{}
	for _, name := range gatewaySecretFlags() {
		secretFlag[name] = true
	}
	for i := 0; i < len(gwArgs); i++ {
		a := gwArgs[i]
		if a == "--" {
			childArgs = append(childArgs, gwArgs[i:]...)
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || !secretFlag[name] {
			childArgs = append(childArgs, a)
			continue
		}
		if !hasValue && i+1 < len(gwArgs) {
			i++
			value = gwArgs[i]
		}
		given[name] = value
		moved = append(moved, name)
	}
	lookup := func(k string) bool {
		for _, e := range env {
			if v, ok := strings.CutPrefix(e, k+"="); ok && v != "" {
				return true
			}
		}
		return false
	}
	if _, ok := given["admin-token"]; !ok && instanceToken != "" {
		childEnv = append(childEnv, cliflag.EnvName("admin-token")+"="+instanceToken)
	}
	for _, name := range gatewaySecretFlags() {
		if v, ok := given[name]; ok {
			childEnv = append(childEnv, cliflag.EnvName(name)+"="+v)
		}
	}
	for _, name := range sharedGatewaySecrets() {
		if _, ok := given[name]; ok || lookup(cliflag.EnvName(name)) {
			continue
		}
		v := secret.Random()
		onGenerate(name, v)
		childEnv = append(childEnv, cliflag.EnvName(name)+"="+v)
	}
	return childEnv, childArgs, moved
}

// notFlag is a boolean flag stored negated: --fast-path=false sets
// Config.DisableFastPath.
type notFlag struct{ p *bool }

func (n notFlag) String() string {
	if n.p == nil {
		return ""
	}
	return strconv.FormatBool(!*n.p)
}

func (n notFlag) Set(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	*n.p = !b
	return nil
}

// IsBoolFlag lets --fast-path stand alone.
func (notFlag) IsBoolFlag() bool { return true }
