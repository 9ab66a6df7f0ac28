package lb

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/authlab/authlab/internal/proc"
)

// InstanceHeader names the instance that served a response; the gateway
// sets it and the load balancer passes it through.
const InstanceHeader = "X-Authlab-Instance"

// Child is one run of a child instance: what its command must listen on.
type Child struct {
	// ID is the instance id (gw1, gw2, …).
	ID string
	// Addr is the data address (host:port) the child must serve on.
	Addr string
	// AdminAddr is the admin address (host:port) the child must serve its
	// /_admin/*, /healthz and /metrics on.
	AdminAddr string
}

// CommandFunc describes the process that runs child c: its executable,
// arguments, environment and, optionally, working directory and output.
// The load balancer starts it through internal/proc (own process group,
// parent-death SIGKILL) and sets its Ready (the health check),
// ReadyTimeout (StartupTimeout), StopTimeout, its Name when empty (the
// instance id) and its Stdout/Stderr when nil (ChildOutput). Secrets go in
// Env (or a file), never in Args: every local user can read those.
type CommandFunc func(c Child) proc.Spec

// External is an instance the load balancer did not start.
type External struct {
	// Addr is its data address (host:port).
	Addr string
	// AdminAddr is its admin address (host:port), serving
	// POST /_admin/exit; empty when unknown, and then the instance cannot
	// be killed through the lb.
	AdminAddr string
}

// ParseExternal parses "DATA[@ADMIN]", two host:port addresses.
func ParseExternal(s string) (External, error) {
	data, admin, _ := strings.Cut(strings.TrimSpace(s), "@")
	e := External{Addr: data, AdminAddr: admin}
	if err := e.validate(); err != nil {
		return External{}, err
	}
	return e, nil
}

// String is the "DATA[@ADMIN]" form ParseExternal reads.
func (e External) String() string {
	if e.AdminAddr == "" {
		return e.Addr
	}
	return e.Addr + "@" + e.AdminAddr
}

func (e External) validate() error {
	if _, _, err := net.SplitHostPort(e.Addr); err != nil {
		return fmt.Errorf("external instance %q: data address: %w", e.String(), err)
	}
	if e.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(e.AdminAddr); err != nil {
			return fmt.Errorf("external instance %q: admin address: %w", e.String(), err)
		}
	}
	return nil
}

// Config configures a load balancer. Durations and counts left zero take
// the defaults documented on each field.
type Config struct {
	// Instances is the number of child instances to start (ids gw1..gwN).
	Instances int
	// External lists instances the load balancer did not start. Their id
	// is the "instance" field of their /healthz answer (ext1.. when missing
	// or duplicate). Kill goes through POST /_admin/exit on their admin
	// address, and fails with ErrNoAdmin when they have none.
	External []External
	// Policy selects instances; default RoundRobin.
	Policy Policy
	// CookieKey is the HMAC key of the sticky cookie (at least 16 bytes;
	// required for Sticky).
	CookieKey []byte
	// Retry retries a failed request on another healthy instance when it
	// was not sent (dial error) or is a GET/HEAD/OPTIONS, and its body can
	// be replayed. It is the initial setting: POST /_lb/retry switches it
	// while the lb runs. Request bodies are buffered for replay only when
	// the lb starts with Retry set.
	Retry bool
	// AbortOnDown cuts short the requests in flight to an instance when it
	// is marked down (health checks, passive detection, kill; not a drain,
	// which waits for them), as
	// HAProxy's "on-marked-down shutdown-sessions" does: they fail at once
	// (and are retried when Retry allows) instead of waiting up to
	// UpstreamTimeout for a host that vanished without closing its
	// connections. Off by default: a frozen instance's requests then
	// complete late, as they would behind HAProxy's defaults.
	AbortOnDown bool
	// IgnoreExits leaves an instance in rotation when its process exits
	// without the lb asking (the exit is still logged and recorded as an
	// "exit" event): the lb then learns of the death only from failed
	// requests and health checks, as it would of a process it does not
	// supervise. Crash and freeze measurements need it; without it the
	// exit takes the instance out of rotation at once.
	IgnoreExits bool
	// HealthInterval is the period of active health checks; default 1s.
	HealthInterval time.Duration
	// HealthTimeout bounds one health check; default 500ms.
	HealthTimeout time.Duration
	// HealthFall is the number of consecutive failed checks that mark an
	// instance down; default 2.
	HealthFall int
	// HealthRise is the number of consecutive successful checks that mark
	// it up again; default 2.
	HealthRise int
	// HealthPath is checked on every instance; default "/healthz".
	HealthPath string
	// AdminToken guards the admin API (/_lb/*). Required.
	AdminToken string
	// InstanceAdminToken is sent to an external instance's
	// POST /_admin/exit. Required when an external instance has an admin
	// address; it must differ from AdminToken (whoever holds an instance's
	// token must not thereby command the lb). The lb hands nothing to its
	// children itself: the CommandFunc gives them their token.
	InstanceAdminToken string
	// UpstreamTimeout bounds the wait for an instance's response headers;
	// default 30s.
	UpstreamTimeout time.Duration
	// DrainTimeout bounds a drain's wait for in-flight requests; default 30s.
	DrainTimeout time.Duration
	// StartupTimeout bounds the wait for a started or revived child to
	// answer its health check; default 30s.
	StartupTimeout time.Duration
	// StopTimeout is the grace between SIGTERM and SIGKILL when stopping
	// children; default 5s.
	StopTimeout time.Duration
	// MaxIdleConnsPerHost sizes the keep-alive pool per instance; default 1024.
	MaxIdleConnsPerHost int
	// ReadHeaderTimeout bounds reading a request's headers (a client
	// trickling them is cut off); default 5s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a request's body, from when its headers
	// are in; default 30s. The handler sets it per request through
	// http.ResponseController and lifts it once the body is read, so a
	// response may take longer than ReadTimeout (http.Server.ReadTimeout
	// would cancel the request at that point).
	ReadTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection; default 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's line and headers: larger ones get
	// 431 with a JSON body; ones beyond twice the bound are refused by
	// net/http itself (431, plain text). Default 32 KiB.
	MaxHeaderBytes int
	// MaxRetryBody is the largest request body buffered so that the request
	// can be retried (only with Retry, and only for a body whose length is
	// declared); larger or chunked bodies are streamed and not retried.
	// Default 64 KiB.
	MaxRetryBody int64
	// DisableFastPath sends every request through httputil.ReverseProxy.
	// By default a request without a body, upgrade or Expect (HTTP/1.x)
	// is forwarded inline over the lb's own pool of persistent
	// connections (lb/fastpath.go), which costs about half the CPU.
	DisableFastPath bool
	// DisableFastServe serves the data plane with net/http's server
	// alone. By default the lb's own HTTP/1.1 accept and serve loop
	// (lb/fastserve.go) serves it: plain GET and HEAD requests are parsed
	// by a strict parser and answered through an own ResponseWriter
	// framing as net/http does; every other request is handed, with its
	// connection and the bytes read, to net/http. An instance's answer of
	// the common shape goes out as its own head's bytes (relayCommon). It
	// is what brought the lb's CPU per request to HAProxy's in make
	// bench-lb (closing note of issue 13). A client leaving mid-request is
	// noticed within about 100 ms by a periodic peek (net/http: at once).
	DisableFastServe bool
	// Command builds child commands. Required when Instances > 0.
	Command CommandFunc
	// Front, when set, puts a front (a fault-injecting proxy) before every
	// child instance's data address: requests and health checks go
	// through it, the admin address stays direct (front.go). Children
	// only: not with External.
	Front FrontFunc
	// ChildOutput receives the children's stdout and stderr when their
	// command leaves them nil; nil discards.
	ChildOutput io.Writer
	// Logger receives the load balancer's logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the wall clock stamped on events; nil means time.Now. The
	// monotonic stamp always comes from the runtime's monotonic clock.
	Now func() time.Time
}

// Sentinel errors of the instance operations.
var (
	// ErrNotFound: no instance with that id.
	ErrNotFound = errors.New("no such instance")
	// ErrBadMode: unknown kill mode, or a mode the instance does not support.
	ErrBadMode = errors.New("bad kill mode")
	// ErrConflict: the operation does not fit the instance's state
	// (killing a killed instance, reviving a live one).
	ErrConflict = errors.New("operation conflicts with instance state")
	// ErrNoAdmin: killing an external instance needs its admin address.
	ErrNoAdmin = errors.New("external instance has no admin address")
)

func (c *Config) setDefaults() {
	if c.Policy == "" {
		c.Policy = RoundRobin
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HealthInterval, time.Second)
	def(&c.HealthTimeout, 500*time.Millisecond)
	def(&c.UpstreamTimeout, 30*time.Second)
	def(&c.DrainTimeout, 30*time.Second)
	def(&c.StartupTimeout, 30*time.Second)
	def(&c.StopTimeout, 5*time.Second)
	if c.HealthFall == 0 {
		c.HealthFall = 2
	}
	if c.HealthRise == 0 {
		c.HealthRise = 2
	}
	if c.HealthPath == "" {
		c.HealthPath = "/healthz"
	}
	if c.MaxIdleConnsPerHost == 0 {
		c.MaxIdleConnsPerHost = 1024
	}
	def(&c.ReadHeaderTimeout, 5*time.Second)
	def(&c.ReadTimeout, 30*time.Second)
	def(&c.IdleTimeout, 120*time.Second)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 32 << 10
	}
	if c.MaxRetryBody == 0 {
		c.MaxRetryBody = 64 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports a configuration error. Zero values that have a default
// are accepted.
func (c Config) Validate() error {
	var errs []error
	if c.Instances < 0 {
		errs = append(errs, fmt.Errorf("instances %d < 0", c.Instances))
	}
	if c.Instances+len(c.External) == 0 {
		errs = append(errs, errors.New("no instance: start at least one or give an external address"))
	}
	if c.Instances > 0 && c.Command == nil {
		errs = append(errs, errors.New("child instances need a Command"))
	}
	if c.Front != nil && len(c.External) > 0 {
		errs = append(errs, errFrontExternal)
	}
	needInstanceToken := false
	for _, e := range c.External {
		if err := e.validate(); err != nil {
			errs = append(errs, err)
		}
		needInstanceToken = needInstanceToken || e.AdminAddr != ""
	}
	if p, ok := lookupPolicy(c.Policy); !ok && c.Policy != "" {
		errs = append(errs, fmt.Errorf("unknown policy %q (want %s)", c.Policy, PolicyNames()))
	} else if ok && p.check != nil {
		if err := p.check(c); err != nil {
			errs = append(errs, err)
		}
	}
	if c.AdminToken == "" {
		errs = append(errs, errors.New("admin token is required"))
	}
	if needInstanceToken && c.InstanceAdminToken == "" {
		errs = append(errs, errors.New("an external instance with an admin address needs the instance admin token"))
	}
	if c.InstanceAdminToken != "" && c.InstanceAdminToken == c.AdminToken {
		errs = append(errs, errors.New("the instance admin token must differ from the lb's admin token"))
	}
	for name, d := range map[string]time.Duration{
		"health interval": c.HealthInterval, "health timeout": c.HealthTimeout,
		"upstream timeout": c.UpstreamTimeout, "drain timeout": c.DrainTimeout,
		"startup timeout": c.StartupTimeout, "stop timeout": c.StopTimeout,
		"read header timeout": c.ReadHeaderTimeout, "read timeout": c.ReadTimeout,
		"idle timeout": c.IdleTimeout,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %v < 0", name, d))
		}
	}
	if c.HealthFall < 0 || c.HealthRise < 0 {
		errs = append(errs, fmt.Errorf("health fall %d / rise %d must be ≥ 1", c.HealthFall, c.HealthRise))
	}
	if c.MaxIdleConnsPerHost < 0 {
		errs = append(errs, fmt.Errorf("max idle conns per host %d < 0", c.MaxIdleConnsPerHost))
	}
	if c.MaxHeaderBytes < 0 || c.MaxHeaderBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("max header bytes %d out of range 1..2^30", c.MaxHeaderBytes))
	}
	if c.MaxRetryBody < 0 {
		errs = append(errs, fmt.Errorf("max retry body %d < 0", c.MaxRetryBody))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lb config: %w", err)
	}
	return nil
}
