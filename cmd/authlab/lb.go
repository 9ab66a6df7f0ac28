package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

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
	fs := flag.NewFlagSet("lb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: authlab lb [flags] [-- gateway flags passed to every child]")
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:8000", "data address: the proxy (loopback by default)")
	adminListen := fs.String("admin-listen", "127.0.0.1:8001", "admin address: /_lb/* admin API, /metrics, /healthz, /readyz (keep it on loopback)")
	instances := fs.Int("instances", 3, "gateway instances to start as child processes (0: external instances only)")
	policy := fs.String("policy", string(lb.RoundRobin), "round-robin, least-conn or sticky (cookie "+lb.CookieName+")")
	adminToken := fs.String("admin-token", "", "secret: bearer token of the admin API /_lb/* (random if empty, written to a 0600 file)")
	instanceAdminToken := fs.String("instance-admin-token", "", "secret: the instances' admin token: handed to the children as AUTHLAB_ADMIN_TOKEN, sent to external instances' POST /_admin/exit; must differ from --admin-token (random if empty and every instance is a child)")
	cookieKey := fs.String("cookie-key", "", "secret: HMAC key of the sticky cookie, at least 16 bytes (random dev value if empty)")
	retry := fs.Bool("retry", false, "retry a failed request on another healthy instance when it was not sent, or is a GET/HEAD/OPTIONS")
	retryBodyMax := fs.Int64("retry-body-max", 64<<10, "with --retry: largest request body (of declared length) buffered so it can be sent again; others are streamed and not retried")
	readHeaderTimeout := fs.Duration("read-header-timeout", 5*time.Second, "a client must send its request line and headers within this")
	readTimeout := fs.Duration("read-timeout", 30*time.Second, "a client must send its request body within this (once its headers are in); the response may take longer")
	idleTimeout := fs.Duration("idle-timeout", 120*time.Second, "close a keep-alive connection idle this long")
	maxHeaderBytes := fs.Int("max-header-bytes", 32<<10, "larger request line and headers get 431")
	healthInterval := fs.Duration("health-interval", time.Second, "active health check period")
	healthTimeout := fs.Duration("health-timeout", 500*time.Millisecond, "one health check's timeout (a frozen instance is detected after health-fall timeouts)")
	healthFall := fs.Int("health-fall", 2, "consecutive failed checks that take an instance out of rotation")
	healthRise := fs.Int("health-rise", 2, "consecutive successful checks that bring it back")
	healthPath := fs.String("health-path", "/healthz", "path checked on every instance's data address")
	upstreamTimeout := fs.Duration("upstream-timeout", 30*time.Second, "wait at most this long for an instance's response headers")
	drainTimeout := fs.Duration("drain-timeout", 30*time.Second, "kill mode=drain: wait at most this long for in-flight requests")
	startupTimeout := fs.Duration("startup-timeout", 30*time.Second, "wait at most this long for a started or revived instance to answer")
	maxIdle := fs.Int("max-idle-conns-per-host", 1024, "keep-alive connections kept per instance")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	gcPercent := fs.Int("gc-percent", 400, "Go GC target percentage for the lb process (its live heap is small; a higher value trades a few MB for less GC CPU); -1 keeps GOGC/the runtime default")
	gomaxprocs := fs.Int("gomaxprocs", 0, "GOMAXPROCS for the lb process (0: the runtime default)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the lb process to this file (for bench-lb analysis)")
	secretsDir := secretsDirFlag(fs)
	var externalFlag listFlag
	fs.Var(&externalFlag, "instance-addr", "external gateway instance DATA[@ADMIN] (host:port; ADMIN serves its /_admin/exit, needed to kill it); repeatable, or comma-separated")
	if err := cliflag.Parse(fs, args, os.LookupEnv); err != nil {
		return err
	}
	if err := prepareSecretsDir(*secretsDir); err != nil {
		return err
	}
	gwArgs := fs.Args()
	for _, a := range gwArgs {
		name := strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")
		if strings.HasPrefix(a, "-") && (name == "listen" || name == "admin-listen" || name == "instance-id") {
			return fmt.Errorf("gateway argument %q: the lb sets --listen, --admin-listen and --instance-id of its children itself", a)
		}
	}
	var external []lb.External
	hasExternalAdmin := false
	for _, s := range externalFlag {
		e, err := lb.ParseExternal(s)
		if err != nil {
			return fmt.Errorf("--instance-addr: %w", err)
		}
		external = append(external, e)
		hasExternalAdmin = hasExternalAdmin || e.AdminAddr != ""
	}
	logger, err := httpserver.NewLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	logger = logger.With("service", "lb")
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if *gomaxprocs > 0 {
		runtime.GOMAXPROCS(*gomaxprocs)
	}
	if *gcPercent >= 0 {
		debug.SetGCPercent(*gcPercent)
	}

	var generated []secretVar
	token, gen, err := secret.Resolve(logger, "admin-token", *adminToken, 16)
	if err != nil {
		return err
	}
	if gen {
		generated = append(generated, secretVar{"AUTHLAB_LB_ADMIN_TOKEN", token,
			"the lb's admin token: curl -H \"Authorization: Bearer $AUTHLAB_LB_ADMIN_TOKEN\" http://" + *adminListen + "/_lb/instances"})
	}
	instToken := *instanceAdminToken
	if instToken == "" {
		if hasExternalAdmin {
			return errors.New("--instance-addr with an admin address needs --instance-admin-token (AUTHLAB_INSTANCE_ADMIN_TOKEN): the external instances' admin token")
		}
		if *instances > 0 {
			instToken = secret.Random()
			generated = append(generated, secretVar{cliflag.EnvName("instance-admin-token"), instToken,
				"the children's admin token (their /_admin/* on each instance's admin_address)"})
		}
	} else if len(instToken) < 16 {
		return fmt.Errorf("--instance-admin-token is %d bytes, need at least 16", len(instToken))
	}
	key, _, err := secret.Resolve(logger, "cookie-key", *cookieKey, 16)
	if err != nil {
		return err
	}

	var command lb.CommandFunc
	if *instances > 0 {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find own executable: %w", err)
		}
		env, childArgs, moved := childEnv(os.Environ(), gwArgs, instToken, func(name, value string) {
			logger.Warn("NO SHARED GATEWAY SECRET GIVEN: generated one for all children; services that must share it will not know it",
				"flag", "--"+name, "fix", "set "+cliflag.EnvName(name)+" for the lb and those services")
			generated = append(generated, secretVar{cliflag.EnvName(name), value, "generated for every gateway child; give the same to the services that share it"})
		})
		for _, name := range moved {
			logger.Warn("secret given as a gateway argument: handed to the children in their environment instead; give it as an environment variable to keep it out of the lb's arguments too",
				"flag", "--"+name, "env", cliflag.EnvName(name))
		}
		command = func(c lb.Child) proc.Spec {
			a := append([]string{"gateway", "--listen", c.Addr, "--admin-listen", c.AdminAddr, "--instance-id", c.ID}, childArgs...)
			return proc.Spec{Path: exe, Args: a, Env: env}
		}
	}
	removeSecrets, err := writeSecrets(stdout, *secretsDir, "lb", envVars(generated))
	if err != nil {
		return err
	}
	defer removeSecrets()

	l, err := lb.New(lb.Config{
		Instances:           *instances,
		External:            external,
		Policy:              lb.Policy(*policy),
		CookieKey:           []byte(key),
		Retry:               *retry,
		MaxRetryBody:        *retryBodyMax,
		ReadHeaderTimeout:   *readHeaderTimeout,
		ReadTimeout:         *readTimeout,
		IdleTimeout:         *idleTimeout,
		MaxHeaderBytes:      *maxHeaderBytes,
		HealthInterval:      *healthInterval,
		HealthTimeout:       *healthTimeout,
		HealthFall:          *healthFall,
		HealthRise:          *healthRise,
		HealthPath:          *healthPath,
		AdminToken:          token,
		InstanceAdminToken:  instToken,
		UpstreamTimeout:     *upstreamTimeout,
		DrainTimeout:        *drainTimeout,
		StartupTimeout:      *startupTimeout,
		MaxIdleConnsPerHost: *maxIdle,
		Command:             command,
		ChildOutput:         stderr,
		Logger:              logger,
	})
	if err != nil {
		return err
	}
	// Bind both ports before starting any child: a taken port fails fast.
	adminLn, err := net.Listen("tcp", *adminListen)
	if err != nil {
		return fmt.Errorf("listen %s (--admin-listen): %w", *adminListen, err)
	}
	dataLn, err := net.Listen("tcp", *listen)
	if err != nil {
		adminLn.Close()
		return fmt.Errorf("listen %s: %w", *listen, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Both planes serve at once: 503 "starting" until the instances are ready.
	errc := make(chan error, 2)
	go func() { errc <- l.ServeAdmin(ctx, adminLn) }()
	go func() { errc <- l.Serve(ctx, dataLn) }()
	wait := func() error {
		cancel()
		var errs []error
		for range 2 {
			errs = append(errs, <-errc)
		}
		return errors.Join(errs...)
	}
	if err := l.Start(ctx); err != nil {
		_ = wait()
		return err
	}
	defer l.Close()
	for _, in := range l.Instances() {
		logger.Info("instance", "id", in.ID, "addr", in.Address, "admin_addr", in.AdminAddress, "pid", in.PID, "external", in.External)
	}
	logger.Info("lb listening", "addr", dataLn.Addr().String(), "admin_addr", adminLn.Addr().String(), "policy", *policy, "retry", *retry)
	fmt.Fprintf(stdout, "lb listening on http://%s (admin: http://%s)\n", dataLn.Addr(), adminLn.Addr())
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc: // a server failed: stop everything
		errc <- serveErr
	}
	if err := wait(); err != nil && !errors.Is(err, context.Canceled) {
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
