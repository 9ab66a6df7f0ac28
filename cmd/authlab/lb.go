package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/authlab/authlab/internal/cliflag"
	"github.com/authlab/authlab/internal/httpserver"
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
	listen := fs.String("listen", "127.0.0.1:8000", "address to listen on (loopback by default)")
	instances := fs.Int("instances", 3, "gateway instances to start as child processes (0: external instances only)")
	policy := fs.String("policy", string(lb.RoundRobin), "round-robin, least-conn or sticky (cookie "+lb.CookieName+")")
	adminToken := fs.String("admin-token", "", "secret: bearer token of the admin API /_lb/*, also handed to the children as their --admin-token (random dev value, printed, if empty)")
	instanceAdminToken := fs.String("instance-admin-token", "", "bearer token for external instances' POST /_admin/exit (default --admin-token)")
	cookieKey := fs.String("cookie-key", "", "secret: HMAC key of the sticky cookie, at least 16 bytes (random dev value if empty)")
	retry := fs.Bool("retry", false, "retry a failed request on another healthy instance when it was not sent, or is a GET/HEAD/OPTIONS")
	healthInterval := fs.Duration("health-interval", time.Second, "active health check period")
	healthTimeout := fs.Duration("health-timeout", 500*time.Millisecond, "one health check's timeout (a frozen instance is detected after health-fall timeouts)")
	healthFall := fs.Int("health-fall", 2, "consecutive failed checks that take an instance out of rotation")
	healthRise := fs.Int("health-rise", 2, "consecutive successful checks that bring it back")
	healthPath := fs.String("health-path", "/healthz", "path checked on every instance")
	upstreamTimeout := fs.Duration("upstream-timeout", 30*time.Second, "wait at most this long for an instance's response headers")
	drainTimeout := fs.Duration("drain-timeout", 30*time.Second, "kill mode=drain: wait at most this long for in-flight requests")
	startupTimeout := fs.Duration("startup-timeout", 30*time.Second, "wait at most this long for a started or revived instance to answer")
	maxIdle := fs.Int("max-idle-conns-per-host", 1024, "keep-alive connections kept per instance")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	gcPercent := fs.Int("gc-percent", 400, "Go GC target percentage for the lb process (its live heap is small; a higher value trades a few MB for less GC CPU); -1 keeps GOGC/the runtime default")
	gomaxprocs := fs.Int("gomaxprocs", 0, "GOMAXPROCS for the lb process (0: the runtime default)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the lb process to this file (for bench-lb analysis)")
	var external listFlag
	fs.Var(&external, "instance-addr", "address of an external gateway instance (repeatable, or comma-separated)")
	if err := cliflag.Parse(fs, args, os.LookupEnv); err != nil {
		return err
	}
	gwArgs := fs.Args()
	for _, a := range gwArgs {
		name := strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")
		if strings.HasPrefix(a, "-") && (name == "listen" || name == "instance-id") {
			return fmt.Errorf("gateway argument %q: the lb sets --listen and --instance-id of its children itself", a)
		}
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

	token, generated, err := secret.Resolve(logger, "admin-token", *adminToken, 16)
	if err != nil {
		return err
	}
	if generated {
		fmt.Fprintf(stdout, "lb admin token (generated): %s\n", token)
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
		env := childEnv(os.Environ(), gwArgs, token, func(name, value string) {
			logger.Warn("NO SHARED GATEWAY SECRET GIVEN: generated one for all children; services that must share it will not know it",
				"flag", "--"+name, "fix", "set "+cliflag.EnvName(name)+" for the lb and those services")
			fmt.Fprintf(stdout, "generated for every child: %s=%s\n", cliflag.EnvName(name), value)
		})
		command = func(addr, id string) *exec.Cmd {
			a := append([]string{"gateway", "--listen", addr, "--instance-id", id}, gwArgs...)
			cmd := exec.Command(exe, a...)
			cmd.Env = env
			return cmd
		}
	}

	l, err := lb.New(lb.Config{
		Instances:           *instances,
		External:            external,
		Policy:              lb.Policy(*policy),
		CookieKey:           []byte(key),
		Retry:               *retry,
		HealthInterval:      *healthInterval,
		HealthTimeout:       *healthTimeout,
		HealthFall:          *healthFall,
		HealthRise:          *healthRise,
		HealthPath:          *healthPath,
		AdminToken:          token,
		InstanceAdminToken:  *instanceAdminToken,
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
	if err := l.Start(ctx); err != nil {
		return err
	}
	defer l.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *listen, err)
	}
	for _, in := range l.Instances() {
		logger.Info("instance", "id", in.ID, "addr", in.Address, "pid", in.PID, "external", in.External)
	}
	logger.Info("lb listening", "addr", ln.Addr().String(), "policy", *policy, "retry", *retry)
	fmt.Fprintf(stdout, "lb listening on http://%s\n", ln.Addr())
	if err := l.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// childEnv is the children's environment: the lb's own, plus the admin
// token and any shared gateway secret that neither gwArgs nor env give
// (generated; onGenerate is told).
func childEnv(env, gwArgs []string, adminToken string, onGenerate func(name, value string)) []string {
	out := append([]string(nil), env...)
	has := func(name string) bool {
		for _, a := range gwArgs {
			if a == "--"+name || a == "-"+name || strings.HasPrefix(a, "--"+name+"=") || strings.HasPrefix(a, "-"+name+"=") {
				return true
			}
		}
		return false
	}
	lookup := func(k string) bool {
		for _, e := range env {
			if v, ok := strings.CutPrefix(e, k+"="); ok && v != "" {
				return true
			}
		}
		return false
	}
	if !has("admin-token") {
		out = append(out, cliflag.EnvName("admin-token")+"="+adminToken)
	}
	for _, name := range sharedGatewaySecrets() {
		if has(name) || lookup(cliflag.EnvName(name)) {
			continue
		}
		v := secret.Random()
		onGenerate(name, v)
		out = append(out, cliflag.EnvName(name)+"="+v)
	}
	return out
}
