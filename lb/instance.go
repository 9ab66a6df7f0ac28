package lb

import (
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
)

// procState is what the load balancer did to an instance.
type procState int32

const (
	running  procState = iota // routed when healthy
	killed                    // stopped by the lb (or exited and not revived)
	frozen                    // SIGSTOPped: still routed until health checks time out
	draining                  // no new requests; waiting for in-flight ones
)

// State names reported by the admin API.
const (
	StateUp       = "up"
	StateDown     = "down"
	StateKilled   = "killed"
	StateFrozen   = "frozen"
	StateDraining = "draining"
)

// allStates lists every state name, in a fixed order (metrics).
func allStates() [5]string {
	return [...]string{StateUp, StateDown, StateKilled, StateFrozen, StateDraining}
}

// maxStatus bounds the per-status counters; anything above lands in 0.
const maxStatus = 600

// endpoint is where an instance listens. A child revived on fresh ports
// gets a new endpoint, swapped in atomically: requests in flight keep the
// one they read.
type endpoint struct {
	addr      string   // data address requests go to, host:port
	adminAddr string   // admin address, host:port; "" when unknown
	url       *url.URL // http://addr
	health    string   // http://addr + HealthPath
	// listen is the child's own data address when a front stands
	// between (addr is then the front's), else "".
	listen string
	front  Front // nil without one
}

// childAddr is the data address the child listens on.
func (ep *endpoint) childAddr() string {
	if ep.listen != "" {
		return ep.listen
	}
	return ep.addr
}

func newEndpoint(addr, adminAddr, healthPath string) *endpoint {
	return &endpoint{
		addr:      addr,
		adminAddr: adminAddr,
		url:       &url.URL{Scheme: "http", Host: addr},
		health:    "http://" + addr + healthPath,
	}
}

// instance is one gateway behind the load balancer. Its identity is fixed at
// construction; its live state is in atomics (read on every request) and,
// for transitions, under mu.
type instance struct {
	id       string
	external bool
	proxy    *httputil.ReverseProxy // to ep, whichever it is now
	fast     *fastForwarder         // the fast path to ep; nil when disabled
	// aborts holds the requests in flight to it when Config.AbortOnDown
	// is set (nil otherwise).
	aborts *abortSet

	ep atomic.Pointer[endpoint]

	admin    atomic.Int32 // procState
	healthy  atomic.Bool
	inFlight atomic.Int64
	served   atomic.Uint64
	failed   atomic.Uint64 // tries that got no answer, retried elsewhere or not
	codes    [maxStatus]atomic.Uint64

	// op serializes admin operations (kill, revive) on this instance.
	op sync.Mutex

	mu    sync.Mutex // guards the fields below
	proc  *child     // the current process of a child instance; nil until started
	gen   uint64     // bumped by kill/revive: stale health results are ignored
	fails int
	oks   int
}

// child returns the instance's current process (nil for an external
// instance, or a child not started yet).
func (in *instance) child() *child {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.proc
}

func (in *instance) state() procState { return procState(in.admin.Load()) }

// childID is the id a child must report on its health path ("" for an
// external instance, whose id comes from that answer).
func (in *instance) childID() string {
	if in.external {
		return ""
	}
	return in.id
}

// endpoint returns where the instance listens now.
func (in *instance) endpoint() *endpoint { return in.ep.Load() }

// routable reports whether new requests may go to the instance. A frozen
// instance stays routable until its health checks time out: that delay is
// what a freeze measures.
func (in *instance) routable() bool {
	s := in.state()
	return (s == running || s == frozen) && in.healthy.Load()
}

// stateName is the admin API's state.
func (in *instance) stateName() string {
	switch in.state() {
	case killed:
		return StateKilled
	case frozen:
		return StateFrozen
	case draining:
		return StateDraining
	}
	if in.healthy.Load() {
		return StateUp
	}
	return StateDown
}

// pid is the current process's id, 0 when none runs.
func (in *instance) pid() int {
	if c := in.child(); c != nil && !c.Exited() {
		return c.PID()
	}
	return 0
}

// InstanceInfo is one instance as the admin API lists it: the wire type of
// GET /_lb/instances (a JSON array of it), GET /_lb/instances/{id} and the
// kill and revive answers. Clients of the admin API (the benchmark
// harness) decode into it; its JSON names are the API's contract.
type InstanceInfo struct {
	// ID is the instance id: gw1..gwN for children, the "instance" of
	// /healthz (or ext1..) for external instances.
	ID string `json:"id"`
	// Address is the data address (host:port) requests are proxied to:
	// the front's when one stands before the instance (Config.Front).
	Address string `json:"address"`
	// ListenAddress is the instance's own data address when a front
	// stands before it (requests and health checks go through the front
	// at Address); "" without one.
	ListenAddress string `json:"listen_address,omitempty"`
	// Front describes the front (its String, e.g. the latency it adds);
	// "" without one.
	Front string `json:"front,omitempty"`
	// AdminAddress serves the instance's /_admin/*, /healthz and /metrics;
	// "" for an external instance given without one.
	AdminAddress string `json:"admin_address"`
	// PID is the child's process id; 0 for an external instance or a child
	// that is not running.
	PID int `json:"pid"`
	// State is one of StateUp, StateDown, StateKilled, StateFrozen,
	// StateDraining.
	State string `json:"state"`
	// Healthy reports whether the health checks (active and passive) see
	// the instance up.
	Healthy bool `json:"healthy"`
	// External reports an instance the lb did not start.
	External bool `json:"external"`
	// InFlight is the number of requests being proxied to it now.
	InFlight int64 `json:"in_flight"`
	// Served counts the responses it gave.
	Served uint64 `json:"served"`
	// Failed counts the requests proxied to it that got no answer from it
	// (refused, reset, timed out), whether the lb then retried them on
	// another instance or answered 502/504 itself.
	Failed uint64 `json:"failed"`
}

func (in *instance) info() InstanceInfo {
	var addr, admin, listen, front string
	if ep := in.endpoint(); ep != nil {
		addr, admin, listen = ep.addr, ep.adminAddr, ep.listen
		if ep.front != nil {
			front = describeFront(ep.front)
		}
	}
	return InstanceInfo{
		ID:            in.id,
		Address:       addr,
		ListenAddress: listen,
		Front:         front,
		AdminAddress:  admin,
		PID:           in.pid(),
		State:         in.stateName(),
		Healthy:       in.healthy.Load(),
		External:      in.external,
		InFlight:      in.inFlight.Load(),
		Served:        in.served.Load(),
		Failed:        in.failed.Load(),
	}
}

func (in *instance) countStatus(code int) {
	if code < 0 || code >= maxStatus {
		code = 0
	}
	in.codes[code].Add(1)
}
