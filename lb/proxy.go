package lb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
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

// route is one proxied request: its id, its body, the instances tried so
// far. ServeHTTP makes it once per request and proxies through it: it
// wraps the client's ResponseWriter, so that an instance's proxy reports a
// failure to it (recordFailure) instead of answering.
type route struct {
	http.ResponseWriter
	timing timingWriter // what ResponseWriter points to: made with the route
	req    *http.Request
	reqID  string
	body   *bodyGuard // the streamed request body, if any
	tried  [maxTries]*instance
	ntried int
	err    error // why the current try failed, set by recordFailure
	local  bool  // the proxy refused the request itself, before any round trip
}

// Unwrap lets http.ResponseController (flush, hijack, deadlines) reach
// the client's ResponseWriter.
func (rt *route) Unwrap() http.ResponseWriter { return rt.ResponseWriter }

// bodyTimedOut reports whether reading the client's body hit ReadTimeout:
// then a failed round trip is the client's fault, not the instance's.
func (rt *route) bodyTimedOut() bool { return rt.body != nil && rt.body.timedOut() }

// dropStaged removes what a selector set on the response for the instance
// it picked (sticky: the pin cookie): the lb answers itself instead.
func (rt *route) dropStaged() { delete(rt.Header(), "Set-Cookie") }

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
//
// The policy picks an instance and the request is proxied to it once; when
// that fails and the request may be sent again (see retryTarget), it is
// proxied to another instance not yet tried.
func (l *LB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := &route{timing: timingWriter{ResponseWriter: w, start: time.Now()}, req: r} // lb;dur= (servertiming.go)
	w = &rt.timing
	rt.ResponseWriter = w
	reqID, ok := l.admit(w, r)
	if !ok {
		return
	}
	rt.reqID = reqID
	in := l.sel.Select(candidates{all: l.insts}, r, rt)
	if in == nil {
		l.noHealthy.Add(1)
		apierr.Write(w, http.StatusServiceUnavailable, apierr.CodeUnavailable, "no healthy instance")
		return
	}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		if !l.guardBody(rt) {
			return
		}
		if rt.body != nil {
			defer rt.body.finish()
		}
	}
	for {
		err := rt.try(in)
		if err == nil {
			return
		}
		next := l.retryTarget(rt, in, err)
		if next == nil {
			l.answerFailure(rt, in, err)
			return
		}
		l.retries.Add(1)
		in = next
	}
}

// admit gives r its request id (made when the client sent none, an
// unusable one or several; one value is forwarded and echoed) and answers
// what is not proxied: an admin-plane path (404), oversized headers (431),
// a load balancer still starting (503). It reports whether to proxy r.
func (l *LB) admit(w http.ResponseWriter, r *http.Request) (string, bool) {
	// (requestid.Header is canonical: the maps are indexed directly.)
	ids := r.Header[requestid.Header]
	var reqID string
	if len(ids) > 0 {
		reqID = ids[0]
	}
	if !requestid.Valid(reqID) || len(ids) != 1 {
		reqID = requestid.OrNew(reqID)
		ids = []string{reqID}
		r.Header[requestid.Header] = ids
	}
	// The request's one-value slice serves the response too (capacity 1:
	// an append to either copies).
	w.Header()[requestid.Header] = ids[:1:1]
	switch {
	case reservedPath(r.URL.Path):
		apierr.Write(w, http.StatusNotFound, apierr.CodeNotFound, "no such route on the data port")
	case headerTooLarge(r, l.cfg.MaxHeaderBytes):
		l.log.Debug("request header too large", "request_id", reqID, "limit", l.cfg.MaxHeaderBytes)
		w.Header().Set("Connection", "close")
		apierr.Write(w, http.StatusRequestHeaderFieldsTooLarge, codeHeaderTooLarge, "request header fields too large")
	case !l.ready():
		apierr.Write(w, http.StatusServiceUnavailable, apierr.CodeUnavailable, "load balancer starting")
	default:
		return reqID, true
	}
	return reqID, false
}

// try proxies the request to in once. It returns nil when in's response
// was relayed, else why in did not answer.
func (rt *route) try(in *instance) (err error) {
	rt.err, rt.local = nil, false
	in.inFlight.Add(1)
	// Deferred, because ReverseProxy aborts with panic(http.ErrAbortHandler)
	// when the client goes away mid-response.
	defer in.inFlight.Add(-1)
	if in.aborts != nil {
		orig := rt.req
		r, done := in.aborts.track(orig)
		rt.req = r
		defer func() {
			rt.req = orig
			done()
			if err != nil && context.Cause(r.Context()) == errInstanceDown && orig.Context().Err() == nil {
				err = fmt.Errorf("%w: %w", errInstanceDown, err)
				rt.err = err
			}
		}()
	}
	if in.fast != nil && fastEligible(rt.req) {
		in.fast.forward(rt) // lb/fastpath.go
	} else {
		in.proxy.ServeHTTP(rt, rt.req)
	}
	return rt.err
}

// retryTarget handles in's failure to answer. Passive detection first: a
// refused or reset connection marks in down at once. Then, with Retry, a
// request that may be sent again (retryable) goes to another instance it
// has not tried, up to maxTries: retryTarget returns that instance (the
// request's body rewound), or nil to give up. A failure of the client's
// making (gone, or its body too slow) is neither detected nor retried.
func (l *LB) retryTarget(rt *route, in *instance, err error) *instance {
	r := rt.req
	if rt.local || r.Context().Err() != nil || rt.bodyTimedOut() {
		return nil
	}
	in.failed.Add(1)
	if instanceFailed(err) {
		l.markDown(in, "passive: "+err.Error(), "request_id", rt.reqID)
	}
	if !l.retry.Load() || !retryable(r, err) {
		return nil
	}
	rt.tried[rt.ntried] = in
	rt.ntried++
	if rt.ntried >= maxTries {
		return nil
	}
	next := l.sel.Select(candidates{all: l.insts, tried: rt.tried[:rt.ntried]}, r, rt)
	if next == nil {
		return nil
	}
	if r.GetBody != nil {
		b, gerr := r.GetBody()
		if gerr != nil {
			return nil
		}
		r.Body = b
	}
	return next
}

// guardBody puts the request's body under a ReadTimeout deadline. With
// Retry, a body of declared length up to MaxRetryBody is read at once (so
// it can be sent again) and the deadline lifted; any other body is
// streamed, the deadline lifted when it ends, and is not retried. It
// answers the client itself and returns false when the body cannot be
// read.
func (l *LB) guardBody(rt *route) bool {
	r := rt.req
	rc := http.NewResponseController(rt.ResponseWriter)
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
		l.bodyFailed(rt, err)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return true
}

// bodyFailed answers a request whose body could not be read: 408 when the
// client was too slow, 400 otherwise. The connection is not reused.
func (l *LB) bodyFailed(rt *route, err error) {
	l.log.Debug("request body not read", "request_id", rt.reqID, "err", err)
	rt.dropStaged()
	w := rt.ResponseWriter
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

// newProxy is instance in's reverse proxy: it sends a request to in's
// current endpoint (a revive may move it), keeping the client's Host, and
// counts in's answer. A failure goes to the route (recordFailure).
func newProxy(in *instance, transport http.RoundTripper, bufs httputil.BufferPool, errLog *log.Logger) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(in.endpoint().url)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport:  transport,
		BufferPool: bufs,
		ModifyResponse: func(resp *http.Response) error {
			// The lb's X-Request-Id is already on the response: the same
			// value, once.
			resp.Header.Del(requestid.Header)
			in.served.Add(1)
			in.countStatus(resp.StatusCode)
			return nil
		},
		ErrorHandler: recordFailure,
		ErrorLog:     errLog,
	}
}

// recordFailure is every instance proxy's ErrorHandler. It writes nothing:
// it tells the route (the ResponseWriter ServeHTTP proxies through) why the
// instance did not answer, and ServeHTTP tries another or answers itself.
func recordFailure(w http.ResponseWriter, req *http.Request, err error) {
	rt, ok := w.(*route)
	if !ok { // not proxied by ServeHTTP: nobody else will answer
		apierr.Write(w, http.StatusBadGateway, apierr.CodeBadGateway, "instance failed")
		return
	}
	rt.err = err
	// The proxy hands its own failures (an unusable Upgrade header) the
	// client's request, and a round trip's the outbound one.
	rt.local = req == rt.req
}

// answerFailure answers a request no instance could serve; in is the last
// one tried. The body says what failed in the lb's words: never an
// internal address or a raw error.
func (l *LB) answerFailure(rt *route, in *instance, err error) {
	if rt.bodyTimedOut() {
		// (net/http cancelled the request context when the read failed.)
		l.bodyFailed(rt, os.ErrDeadlineExceeded)
		return
	}
	if rt.req.Context().Err() != nil {
		// The client went away; nobody reads the answer.
		return
	}
	rt.dropStaged()
	status, code, what := describeFailure(err)
	in.countStatus(status)
	l.log.Debug("proxy error", "request_id", rt.reqID, "instance", in.id, "status", status, "err", err)
	// Name the instance that failed, so that a client can attribute the
	// failure (the gateway names itself on the answers it gives).
	rt.ResponseWriter.Header().Set(InstanceHeader, in.id)
	apierr.Write(rt.ResponseWriter, status, code, "instance "+in.id+" "+what)
}

// describeFailure maps a round-trip error to a status, a code and what the
// instance did, in words fit for a client.
func describeFailure(err error) (int, string, string) {
	switch {
	case errors.Is(err, errInstanceDown):
		return http.StatusBadGateway, apierr.CodeBadGateway, "was marked down before it answered"
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
