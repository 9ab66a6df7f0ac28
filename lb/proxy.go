package lb

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"syscall"

	"github.com/authlab/authlab/internal/apierr"
)

// maxRetryBody is the largest request body buffered so that a request can
// be retried on another instance (only with Config.Retry).
const maxRetryBody = 64 << 10

// maxTries bounds the instances one request is tried on.
const maxTries = 3

// ctxKey keys the per-request routing state in the request context.
type ctxKey struct{}

// route is the routing state of one proxied request.
type route struct {
	inst    *instance // current target
	pinned  *instance // instance named by the sticky cookie, if any
	tried   [maxTries]*instance
	ntried  int
	counted bool // inst.inFlight holds this request
}

func (rt *route) wasTried(in *instance) bool {
	for _, t := range rt.tried[:rt.ntried] {
		if t == in {
			return true
		}
	}
	return false
}

func (l *LB) ready() bool { return l.isReady.Load() }

// ServeHTTP routes the admin API (/_lb/), the metrics (/metrics) and
// proxies everything else to an instance.
func (l *LB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/_lb/") || p == "/_lb":
		l.admin.ServeHTTP(w, r)
		return
	case p == "/metrics":
		l.metrics.ServeHTTP(w, r)
		return
	}
	if !l.ready() {
		apierr.Write(w, http.StatusServiceUnavailable, apierr.CodeUnavailable, "load balancer starting")
		return
	}
	rt := &route{}
	if l.cfg.Policy == Sticky {
		if c, err := r.Cookie(CookieName); err == nil {
			rt.pinned = l.cookies[c.Value]
		}
	}
	if rt.pinned != nil && rt.pinned.routable() {
		rt.inst = rt.pinned
	} else {
		rt.inst = l.pick(rt)
	}
	if rt.inst == nil {
		l.noHealthy.Add(1)
		apierr.Write(w, http.StatusServiceUnavailable, apierr.CodeUnavailable, "no healthy instance")
		return
	}
	if l.cfg.Retry && r.Body != nil && r.Body != http.NoBody && r.ContentLength > 0 && r.ContentLength <= maxRetryBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, r.ContentLength))
		if err != nil {
			apierr.Write(w, http.StatusBadRequest, apierr.CodeBadRequest, "cannot read request body")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, rt))
	l.proxy.ServeHTTP(w, r)
	if rt.counted {
		rt.inst.inFlight.Add(-1)
	}
}

// pick chooses a routable instance not yet tried by rt, or nil.
func (l *LB) pick(rt *route) *instance {
	n := len(l.insts)
	start := int(l.rr.Add(1) % uint64(n))
	if l.cfg.Policy == LeastConn {
		var best *instance
		var bestN int64
		for i := range n {
			in := l.insts[(start+i)%n]
			if !in.routable() || rt.wasTried(in) {
				continue
			}
			if f := in.inFlight.Load(); best == nil || f < bestN {
				best, bestN = in, f
			}
		}
		return best
	}
	for i := range n {
		in := l.insts[(start+i)%n]
		if in.routable() && !rt.wasTried(in) {
			return in
		}
	}
	return nil
}

func routeOf(ctx context.Context) *route {
	rt, _ := ctx.Value(ctxKey{}).(*route)
	return rt
}

// rewrite points the outbound request at the chosen instance. The client's
// Host header is kept.
func (l *LB) rewrite(pr *httputil.ProxyRequest) {
	rt := routeOf(pr.In.Context())
	pr.SetURL(rt.inst.url)
	pr.Out.Host = pr.In.Host
	pr.SetXForwarded()
}

// modifyResponse counts the response and (sticky) pins the client to the
// instance that answered.
func (l *LB) modifyResponse(resp *http.Response) error {
	rt := routeOf(resp.Request.Context())
	if rt == nil {
		return nil
	}
	rt.inst.served.Add(1)
	rt.inst.countStatus(resp.StatusCode)
	if l.cfg.Policy == Sticky && rt.pinned != rt.inst {
		resp.Header.Add("Set-Cookie", rt.inst.setCookie)
	}
	return nil
}

// proxyError answers a request no instance could serve.
func (l *LB) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	rt := routeOf(r.Context())
	if r.Context().Err() != nil {
		// The client went away; nobody reads the answer.
		return
	}
	id := ""
	if rt != nil {
		id = rt.inst.id
		rt.inst.countStatus(http.StatusBadGateway)
	}
	l.log.Debug("proxy error", "instance", id, "err", err)
	apierr.Write(w, http.StatusBadGateway, apierr.CodeBadGateway, "instance "+id+" failed: "+err.Error())
}

// retryTransport marks instances down on connection errors (passive health
// detection) and, with Config.Retry, retries on another instance.
type retryTransport struct {
	l    *LB
	base http.RoundTripper
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := routeOf(req.Context())
	if rt == nil {
		return t.base.RoundTrip(req)
	}
	for {
		in := rt.inst
		in.inFlight.Add(1)
		resp, err := t.base.RoundTrip(req)
		if err == nil {
			rt.counted = true
			return resp, nil
		}
		in.inFlight.Add(-1)
		if instanceFailed(err) && req.Context().Err() == nil {
			t.l.markDown(in, "passive: "+err.Error())
		}
		if !t.l.cfg.Retry || req.Context().Err() != nil || !retryable(req, err) {
			return nil, err
		}
		rt.tried[rt.ntried] = in
		rt.ntried++
		if rt.ntried >= maxTries {
			return nil, err
		}
		next := t.l.pick(rt)
		if next == nil {
			return nil, err
		}
		t.l.retries.Add(1)
		rt.inst = next
		req = req.Clone(req.Context())
		req.URL.Host = next.addr
		if req.GetBody != nil {
			b, gerr := req.GetBody()
			if gerr != nil {
				return nil, err
			}
			req.Body = b
		}
	}
}

// instanceFailed reports whether err shows the instance itself is gone
// (connection refused or reset): passive detection marks it down at once.
func instanceFailed(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// notSent reports whether err happened before the request left (dial).
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// retryable reports whether req may be sent again after err: its body must
// be replayable, and it must either not have been sent or be idempotent.
func retryable(req *http.Request, err error) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	if notSent(err) {
		return true
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}
