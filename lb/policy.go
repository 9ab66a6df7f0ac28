package lb

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
)

// Policy names how the load balancer picks an instance.
type Policy string

// Policies.
const (
	// RoundRobin sends each request to the next healthy instance.
	RoundRobin Policy = "round-robin"
	// LeastConn sends each request to the healthy instance with the fewest
	// requests in flight (ties broken round-robin).
	LeastConn Policy = "least-conn"
	// Sticky pins a client to an instance with the CookieName cookie and
	// falls back to round-robin for new clients and dead pins.
	Sticky Policy = "sticky"
)

// CookieName is the sticky policy's pin cookie. It holds an HMAC of the
// instance id under Config.CookieKey, never the bare id.
const CookieName = "authlab_lb"

// policies is where policies are named, in the order help texts list
// them. Adding a policy is a selector type and a line here.
func policies() []policy {
	return []policy{
		{name: RoundRobin, build: func(Config, []*instance) selector { return new(roundRobin) }},
		{name: LeastConn, build: func(Config, []*instance) selector { return new(leastConn) }},
		{name: Sticky, build: newSticky, check: checkSticky},
	}
}

// policy is one named policy: how to build its selector once the
// instances are known, and what it needs from the configuration.
type policy struct {
	name  Policy
	build func(cfg Config, insts []*instance) selector
	check func(cfg Config) error // nil: anything goes
}

func lookupPolicy(name Policy) (policy, bool) {
	for _, p := range policies() {
		if p.name == name {
			return p, true
		}
	}
	return policy{}, false
}

// Policies lists every policy, in the order help texts list them.
func Policies() []Policy {
	ps := policies()
	out := make([]Policy, len(ps))
	for i, p := range ps {
		out[i] = p.name
	}
	return out
}

// PolicyNames lists the policies for a help text: "a, b or c".
func PolicyNames() string {
	ps := Policies()
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = string(p)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// selector picks the instance a request goes to, as a selection policy
// of Caddy's reverse proxy does. A selector holds its configuration
// (fixed when it is built) and its live state in atomics: Select is
// called concurrently, on every request and again on every retry.
type selector interface {
	// Select returns an instance that c offers, or nil when there is none.
	// It may set headers of the response on w (sticky: the pin cookie);
	// the handler drops them when it answers with an error of its own.
	Select(c candidates, r *http.Request, w http.ResponseWriter) *instance
}

// candidates are the instances a selector may pick for one request: the
// routable ones the request has not tried yet.
type candidates struct {
	all   []*instance
	tried []*instance
}

// offers reports whether in may be picked.
func (c candidates) offers(in *instance) bool {
	if !in.routable() {
		return false
	}
	for _, t := range c.tried {
		if t == in {
			return false
		}
	}
	return true
}

// roundRobin offers each request the next instance in turn.
type roundRobin struct{ next atomic.Uint64 }

func (p *roundRobin) Select(c candidates, _ *http.Request, _ http.ResponseWriter) *instance {
	n := len(c.all)
	start := int(p.next.Add(1) % uint64(n))
	for i := range n {
		if in := c.all[(start+i)%n]; c.offers(in) {
			return in
		}
	}
	return nil
}

// leastConn picks the instance with the fewest requests in flight; ties go
// to the first one after a round-robin start.
type leastConn struct{ next atomic.Uint64 }

func (p *leastConn) Select(c candidates, _ *http.Request, _ http.ResponseWriter) *instance {
	n := len(c.all)
	start := int(p.next.Add(1) % uint64(n))
	var best *instance
	var bestN int64
	for i := range n {
		in := c.all[(start+i)%n]
		if !c.offers(in) {
			continue
		}
		if f := in.inFlight.Load(); best == nil || f < bestN {
			best, bestN = in, f
		}
	}
	return best
}

// sticky sends a client to the instance its CookieName cookie pins, while
// that instance is offered. A new client, or one whose pin is down (or
// already tried by this request), goes where the fallback policy says, and
// the response re-pins it there at once.
type sticky struct {
	fallback  selector
	pins      map[string]*instance // cookie value → instance
	setCookie map[*instance]string // instance → Set-Cookie value pinning it
}

func checkSticky(cfg Config) error {
	if len(cfg.CookieKey) < 16 {
		return fmt.Errorf("sticky policy needs a cookie key of at least 16 bytes, got %d", len(cfg.CookieKey))
	}
	return nil
}

func newSticky(cfg Config, insts []*instance) selector {
	p := &sticky{
		fallback:  new(roundRobin),
		pins:      make(map[string]*instance, len(insts)),
		setCookie: make(map[*instance]string, len(insts)),
	}
	for _, in := range insts {
		v := cookieValue(cfg.CookieKey, in.id)
		p.pins[v] = in
		p.setCookie[in] = (&http.Cookie{
			Name: CookieName, Value: v, Path: "/",
			HttpOnly: true, SameSite: http.SameSiteLaxMode,
		}).String()
	}
	return p
}

func (p *sticky) Select(c candidates, r *http.Request, w http.ResponseWriter) *instance {
	if ck, err := r.Cookie(CookieName); err == nil {
		if in := p.pins[ck.Value]; in != nil && c.offers(in) {
			return in
		}
	}
	in := p.fallback.Select(c, r, w)
	if in != nil {
		w.Header().Set("Set-Cookie", p.setCookie[in])
	}
	return in
}

// cookieValue is the sticky cookie for instance id: 128 bits of
// HMAC-SHA256(key, id), base64url.
func cookieValue(key []byte, id string) string {
	if len(key) == 0 {
		return ""
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}
