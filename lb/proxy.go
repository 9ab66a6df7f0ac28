package lb

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/authlab/authlab/internal/apierr"
	"github.com/authlab/authlab/internal/requestid"
)

// Error codes of the answers the load balancer writes itself, beyond the
// shared ones in apierr.
const (
	codeHeaderTooLarge = "header_too_large"
	codeRequestTimeout = "request_timeout"
	codeGatewayTimeout = "gateway_timeout"
)

// maxTries bounds the instances one request is tried on.
const maxTries = 3

// ctxKey keys the per-request routing state in the request context.
type ctxKey struct{}

// route is the routing state of one proxied request.
type route struct {
	reqID   string
	inst    *instance // current target
	pinned  *instance // instance named by the sticky cookie, if any
	tried   [maxTries]*instance
	ntried  int
	counted bool       // inst.inFlight holds this request
	body    *bodyGuard // the streamed request body, if any
}

func (rt *route) wasTried(in *instance) bool {
	for _, t := range rt.tried[:rt.ntried] {
		if t == in {
			return true
		}
	}
	return false
}

// bodyTimedOut reports whether reading the client's body hit ReadTimeout:
// then a failed round trip is the client's fault, not the instance's.
func (rt *route) bodyTimedOut() bool { return rt.body != nil && rt.body.timedOut() }

func (l *LB) ready() bool { return l.isReady.Load() }

// reservedPath reports whether p belongs to an admin plane: the lb's
// /_lb/*, a gateway's /_admin/*, any /metrics. The data port answers those
// itself and never proxies them. The path is cleaned and compared without
// regard to case, so //_admin, /x/../_admin and /_ADMIN are caught too.
func reservedPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false // "*" (OPTIONS *) or an authority (CONNECT)
	}
	p = path.Clean(p) // no allocation when p is already clean
	for _, pre := range [...]string{"/_lb", "/_admin", "/metrics"} {
		if len(p) >= len(pre) && strings.EqualFold(p[:len(pre)], pre) && (len(p) == len(pre) || p[len(pre)] == '/') {
			return true
		}
	}
	return false
}

// headerTooLarge reports whether r's request line and headers exceed limit
// bytes (counted as on the wire, give or take the separators).
func headerTooLarge(r *http.Request, limit int) bool {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + len(r.Host) + 16
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
		if n > limit {
			return true
		}
	}
	return n > limit
}

// ServeHTTP is the data plane: it proxies every request to an instance,
// except /_lb/*, /_admin/* and /metrics (404: they live on the admin
// plane). It answers 431 for oversized headers, 503 while starting or
// without a healthy instance, 502/504 when the instance fails, 408/400 when
// the client's body does not arrive. Every answer carries X-Request-Id.
func (l *LB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := r.Header.Get(requestid.Header)
	if !requestid.Valid(reqID) || len(r.Header[requestid.Header]) != 1 {
		reqID = requestid.OrNew(reqID) // and one value only is forwarded
		r.Header.Set(requestid.Header, reqID)
	}
	w.Header().Set(requestid.Header, reqID)
	if reservedPath(r.URL.Path) {
		apierr.Write(w, http.StatusNotFound, apierr.CodeNotFound, "no such route on the data port")
		return
	}
	if headerTooLarge(r, l.cfg.MaxHeaderBytes) {
		l.log.Debug("request header too large", "request_id", reqID, "limit", l.cfg.MaxHeaderBytes)
		w.Header().Set("Connection", "close")
		apierr.Write(w, http.StatusRequestHeaderFieldsTooLarge, codeHeaderTooLarge, "request header fields too large")
		return
	}
	if !l.ready() {
		apierr.Write(w, http.StatusServiceUnavailable, apierr.CodeUnavailable, "load balancer starting")
		return
	}
	rt := &route{reqID: reqID}
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
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		if !l.guardBody(w, r, rt) {
			return
		}
		if rt.body != nil {
			defer rt.body.finish()
		}
	}
	// Deferred, because ReverseProxy aborts with panic(http.ErrAbortHandler)
	// when the client goes away mid-response.
	defer func() {
		if rt.counted {
			rt.inst.inFlight.Add(-1)
		}
	}()
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, rt))
	l.proxy.ServeHTTP(w, r)
}

// guardBody puts r's body under a ReadTimeout deadline. With Retry, a body
// of declared length up to MaxRetryBody is read at once (so it can be sent
// again) and the deadline lifted; any other body is streamed, the deadline
// lifted when it ends, and is not retried. It answers the client itself
// and returns false when the body cannot be read.
func (l *LB) guardBody(w http.ResponseWriter, r *http.Request, rt *route) bool {
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(l.cfg.ReadTimeout)); err != nil {
		// No deadline possible (not a net/http server): stream, never buffer.
		return true
	}
	if !l.cfg.Retry || r.ContentLength < 0 || r.ContentLength > l.cfg.MaxRetryBody {
		rt.body = &bodyGuard{ReadCloser: r.Body, rc: rc}
		r.Body = rt.body
		return true
	}
	body := make([]byte, r.ContentLength)
	_, err := io.ReadFull(r.Body, body)
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		l.bodyFailed(w, rt, err)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return true
}

// bodyFailed answers a request whose body could not be read: 408 when the
// client was too slow, 400 otherwise. The connection is not reused.
func (l *LB) bodyFailed(w http.ResponseWriter, rt *route, err error) {
	l.log.Debug("request body not read", "request_id", rt.reqID, "err", err)
	w.Header().Set("Connection", "close")
	if isTimeout(err) {
		apierr.Write(w, http.StatusRequestTimeout, codeRequestTimeout, "request body not received in time")
		return
	}
	apierr.Write(w, http.StatusBadRequest, apierr.CodeBadRequest, "request body incomplete")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// bodyGuard is a streamed request body under a read deadline. It lifts the
// deadline once the body has been read to its end, so that a response slower
// than ReadTimeout is not cut off, and does nothing once the handler has
// returned (the connection may then be reading the next request).
type bodyGuard struct {
	io.ReadCloser
	rc *http.ResponseController

	mu      sync.Mutex
	done    bool // deadline lifted, or the handler returned
	timeout bool // a read hit the deadline
}

func (g *bodyGuard) Read(p []byte) (int, error) {
	n, err := g.ReadCloser.Read(p)
	if err != nil {
		g.mu.Lock()
		if isTimeout(err) {
			g.timeout = true
		} else if !g.done && err == io.EOF {
			_ = g.rc.SetReadDeadline(time.Time{})
		}
		g.done = true
		g.mu.Unlock()
	}
	return n, err
}

func (g *bodyGuard) finish() {
	g.mu.Lock()
	g.done = true
	g.mu.Unlock()
}

func (g *bodyGuard) timedOut() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.timeout
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
	pr.SetURL(rt.inst.endpoint().url)
	pr.Out.Host = pr.In.Host
	pr.SetXForwarded()
}

// modifyResponse counts the response, drops the instance's X-Request-Id
// (the lb's is already on the response: the same value, once) and (sticky)
// pins the client to the instance that answered.
func (l *LB) modifyResponse(resp *http.Response) error {
	rt := routeOf(resp.Request.Context())
	if rt == nil {
		return nil
	}
	resp.Header.Del(requestid.Header)
	rt.inst.served.Add(1)
	rt.inst.countStatus(resp.StatusCode)
	if l.cfg.Policy == Sticky && rt.pinned != rt.inst {
		resp.Header.Add("Set-Cookie", rt.inst.setCookie)
	}
	return nil
}

// proxyError answers a request no instance could serve. The body says what
// failed in the lb's words: never an internal address or a raw error.
func (l *LB) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	rt := routeOf(r.Context())
	if rt != nil && rt.bodyTimedOut() {
		// (net/http cancelled the request context when the read failed.)
		l.bodyFailed(w, rt, os.ErrDeadlineExceeded)
		return
	}
	if r.Context().Err() != nil {
		// The client went away; nobody reads the answer.
		return
	}
	if rt == nil {
		l.log.Warn("proxy error", "request_id", r.Header.Get(requestid.Header), "err", err)
		apierr.Write(w, http.StatusBadGateway, apierr.CodeBadGateway, "instance failed")
		return
	}
	status, code, what := describeFailure(err)
	rt.inst.countStatus(status)
	l.log.Debug("proxy error", "request_id", rt.reqID, "instance", rt.inst.id, "status", status, "err", err)
	apierr.Write(w, status, code, "instance "+rt.inst.id+" "+what)
}

// describeFailure maps a round-trip error to a status, a code and what the
// instance did, in words fit for a client.
func describeFailure(err error) (int, string, string) {
	switch {
	case isTimeout(err):
		return http.StatusGatewayTimeout, codeGatewayTimeout, "did not answer in time"
	case errors.Is(err, syscall.ECONNREFUSED):
		return http.StatusBadGateway, apierr.CodeBadGateway, "refused the connection"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadGateway, apierr.CodeBadGateway, "closed the connection"
	default:
		return http.StatusBadGateway, apierr.CodeBadGateway, "failed"
	}
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
		if req.Context().Err() != nil || rt.bodyTimedOut() {
			return nil, err // the client's doing, not the instance's
		}
		if instanceFailed(err) {
			t.l.markDown(in, "passive: "+err.Error(), "request_id", rt.reqID)
		}
		if !t.l.cfg.Retry || !retryable(req, err) {
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
		req.URL.Host = next.endpoint().addr
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
