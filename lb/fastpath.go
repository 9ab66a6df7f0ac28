package lb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/authlab/authlab/internal/requestid"
)

// The fast path forwards the common request inline, on the goroutine
// net/http serves it on, over a pool of persistent connections of its own:
// no request clone, no transport goroutines handing the request and the
// response over channels. net/http's server still parses the client's
// side (its smuggling defences stay), and http.ReadResponse the
// instance's. It takes only what it can forward exactly as the instance's
// httputil.ReverseProxy would (fastEligible): HTTP/1.x, no body, no
// upgrade, no Expect. Everything else — bodies, upgrades, 100-continue,
// HTTP/2, odd request targets — goes through the ReverseProxy.
//
// What it sends and relays is what ReverseProxy (with newProxy's Rewrite)
// and http.Transport send and relay: hop-by-hop headers (RFC 9110 §7.6.1,
// and those named in Connection) dropped both ways; Forwarded dropped;
// X-Forwarded-For (the client's address), X-Forwarded-Host and
// X-Forwarded-Proto set; the client's Host kept; "Te: trailers" kept;
// Content-Length: 0 for POST, PUT and PATCH; unparsable query parameters
// dropped; the response's trailers announced and relayed; a response of
// unknown length or an event stream flushed after every read.

// fastMax1xx bounds the informational responses relayed before the final
// one (http.Transport's limit).
const fastMax1xx = 5

// fastCopyBuf is the size of the body copy buffers.
const fastCopyBuf = 32 << 10

// fastForwarder is one instance's fast path: its idle connections and how
// to make new ones.
type fastForwarder struct {
	in          *instance
	dialer      net.Dialer
	timeout     time.Duration // for the response headers (UpstreamTimeout)
	idleTimeout time.Duration // an idle connection older than this is closed
	maxIdle     int
	bufs        *sync.Pool // *[]byte of fastCopyBuf bytes

	mu     sync.Mutex
	idle   []*upConn // LIFO: the most recently used first out
	busy   map[*upConn]struct{}
	closed bool
}

// upConn is one persistent connection to an instance's endpoint.
type upConn struct {
	nc        net.Conn
	lr        limitedConn // what br reads: nc under a limit while the head is read
	br        *bufio.Reader
	bw        *bufio.Writer
	ep        *endpoint // where it goes: a revive may move the instance
	idleSince time.Time
	deadline  time.Time // the read deadline set on nc; zero: none

	// Guarded by the forwarder's mu while the connection is busy.
	ctx     context.Context // the client request it serves
	aborted bool            // closed by reap: the client left

	head fastHead // the answer's head, when parseHead took it (lb/fasthead.go)
}

// deadlineSlack is how early a read deadline may fall: armDeadline keeps
// the one it set while it is at least timeout-deadlineSlack away, so that
// most requests pay no timer update (the bound is 30 s by default).
const deadlineSlack = time.Second

// armDeadline makes sure the response's headers are awaited at most
// timeout, and at least timeout-deadlineSlack (or 7/8 of timeout).
func (c *upConn) armDeadline(timeout time.Duration) error {
	now := time.Now()
	slack := min(deadlineSlack, timeout/8)
	if !c.deadline.IsZero() && c.deadline.Sub(now) >= timeout-slack {
		return nil
	}
	c.deadline = now.Add(timeout)
	return c.nc.SetReadDeadline(c.deadline)
}

func newFastForwarder(in *instance, cfg Config, bufs *sync.Pool) *fastForwarder {
	return &fastForwarder{
		in:          in,
		dialer:      net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second},
		timeout:     cfg.UpstreamTimeout,
		idleTimeout: fastIdleTimeout,
		maxIdle:     cfg.MaxIdleConnsPerHost,
		bufs:        bufs,
		busy:        map[*upConn]struct{}{},
	}
}

// reapInterval is how often reap looks for requests whose client left.
const reapInterval = 50 * time.Millisecond

// reap closes the connection of every request whose client went away
// (its context is done), so that the instance sees the request cancelled
// and the serving goroutine stops waiting, as net/http's Transport does
// when a request's context ends. One sweep every reapInterval costs less
// than a context.AfterFunc per request.
func (f *fastForwarder) reap() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.busy {
		if !c.aborted && c.ctx.Err() != nil {
			c.aborted = true
			c.nc.Close()
		}
	}
}

// track marks c busy with ctx's request; done (put or discard) ends it.
func (f *fastForwarder) track(c *upConn, ctx context.Context) {
	f.mu.Lock()
	c.ctx, c.aborted = ctx, false
	f.busy[c] = struct{}{}
	f.mu.Unlock()
}

// discard closes c for good.
func (f *fastForwarder) discard(c *upConn) {
	f.mu.Lock()
	delete(f.busy, c)
	c.ctx = nil
	f.mu.Unlock()
	c.nc.Close()
}

// fastIdleTimeout is how long an idle connection is kept: shorter than the
// gateways' idle timeout, so that the instance seldom closes one first.
const fastIdleTimeout = 30 * time.Second

// fastCheckAfter is how long a connection may sit idle before it is
// checked (one non-blocking peek) for a close by the instance.
const fastCheckAfter = 500 * time.Millisecond

func newCopyBufPool() *sync.Pool {
	return &sync.Pool{New: func() any {
		b := make([]byte, fastCopyBuf)
		return &b
	}}
}

// fastEligible reports whether r can take the fast path.
func fastEligible(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ContentLength != 0 || len(r.TransferEncoding) != 0 ||
		(r.Body != nil && r.Body != http.NoBody) || r.Method == http.MethodConnect {
		return false
	}
	if r.RequestURI == "" || r.RequestURI[0] != '/' || r.URL.Opaque != "" {
		return false // OPTIONS *, absolute-form: ReverseProxy rewrites those
	}
	if r.Host == "" || strings.IndexByte(r.Host, '%') >= 0 {
		return false // Transport substitutes or cleans those
	}
	h := r.Header
	if _, ok := h["Upgrade"]; ok {
		return false
	}
	if _, ok := h["Expect"]; ok {
		return false
	}
	return !tokenListed(h["Connection"], "upgrade")
}

// tokenListed reports whether one of the comma-separated values lists
// token (case-insensitive).
func tokenListed(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.Trim(t, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// hopHeader reports whether k (canonical) is a hop-by-hop header
// ReverseProxy drops (RFC 9110 §7.6.1 and the legacy ones).
func hopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// forward sends rt's request to the instance and relays the answer. A
// failure before the answer's headers were written is left in rt.err, as
// recordFailure does for the ReverseProxy; one after panics with
// http.ErrAbortHandler, as ReverseProxy does, so that the client's
// connection is cut.
func (f *fastForwarder) forward(rt *route) {
	r := rt.req
	ctx := r.Context()
	for {
		c, reused, err := f.get(ctx, r)
		if err != nil {
			rt.err = err
			return
		}
		f.track(c, ctx)
		res, sent, err := f.roundTrip(rt, c, r)
		if err != nil {
			f.discard(c)
			if cerr := ctx.Err(); cerr != nil {
				err = cerr
			} else if reused && !isTimeout(err) && (!sent || replayable(r)) && !errors.As(err, new(answerStarted)) {
				// The instance closed an idle connection (or crashed):
				// net/http's Transport tries again on another one.
				continue
			}
			rt.err = err
			return
		}
		if res == nil {
			f.relayHead(rt, c) // lb/fasthead.go
			return
		}
		f.relay(rt, c, res)
		return
	}
}

// answerStarted is a round trip that failed after the instance had begun
// to answer: never retried on another connection.
type answerStarted struct{ err error }

func (e answerStarted) Error() string { return e.err.Error() }
func (e answerStarted) Unwrap() error { return e.err }

// replayable reports whether Transport would send r again after a reused
// connection failed before answering.
func replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, a := r.Header["Idempotency-Key"]
	_, b := r.Header["X-Idempotency-Key"]
	return a || b
}

// get returns an idle connection to the instance's current endpoint (and
// true), or dials one.
func (f *fastForwarder) get(ctx context.Context, r *http.Request) (*upConn, bool, error) {
	ep := f.in.endpoint()
	var now time.Time
	f.mu.Lock()
	for n := len(f.idle); n > 0; n = len(f.idle) {
		c := f.idle[n-1]
		f.idle[n-1] = nil
		f.idle = f.idle[:n-1]
		f.mu.Unlock()
		if now.IsZero() {
			now = time.Now()
		}
		idle := now.Sub(c.idleSince)
		// A request that would not be sent again on a fresh connection
		// (net/http's Transport notices closes of idle connections at once)
		// gets one checked first; so does one idle for a while.
		if c.ep == ep && idle < f.idleTimeout &&
			((idle < fastCheckAfter && replayable(r)) || !peerClosed(c.nc)) {
			return c, true, nil
		}
		c.nc.Close()
		f.mu.Lock()
	}
	f.mu.Unlock()
	nc, err := f.dialer.DialContext(ctx, "tcp", ep.addr)
	if err != nil {
		return nil, false, err
	}
	rw := ioOf(nc)
	c := &upConn{nc: nc, bw: bufio.NewWriterSize(rw, 4<<10), ep: ep}
	c.lr = limitedConn{Conn: nc, rd: rw, n: -1}
	if sc, ok := nc.(syscall.Conn); ok {
		c.lr.raw, _ = sc.SyscallConn() // nil on error: plain reads
	}
	c.br = bufio.NewReaderSize(&c.lr, 16<<10)
	return c, false, nil
}

// fastMaxHeaderBytes bounds a response's status line and headers
// (http.Transport's default MaxResponseHeaderBytes).
const fastMaxHeaderBytes = 10 << 20

// errHeaderTooLarge is Transport's answer to an oversized response head.
var errHeaderTooLarge = fmt.Errorf("net/http: server response headers exceeded %d bytes; aborted", fastMaxHeaderBytes)

// limitedConn reads from its Conn at most n bytes (n < 0: no limit).
// With send set, its next read first writes send's buffered request
// (sendThenRead: lb/fastpath_linux.go); a failed write is left in sendErr.
type limitedConn struct {
	net.Conn
	rd      io.Reader // reads the Conn (ioOf); nil: the Conn itself
	n       int64
	raw     syscall.RawConn // the Conn's descriptor, for sendThenRead; nil: none
	send    *bufio.Writer
	sendErr error
	st      sendThenReadState // sendThenRead's, between its callbacks
}

// sendThenReadState is what sendThenRead's callback reads and fills.
type sendThenReadState struct {
	fn   func(uintptr) bool // the callback, bound once
	bw   *bufio.Writer
	sent bool
	rd   rawCall // the read, once the request is sent
}

// rawCall is one raw read or write in progress (lb/rawio_linux.go).
type rawCall struct {
	p     []byte        // the call's buffer
	n     int           // bytes read, or written so far
	errno syscall.Errno // the call's failure; 0: none
}

func (l *limitedConn) Read(p []byte) (int, error) {
	if l.n == 0 {
		return 0, errHeaderTooLarge
	}
	if l.n > 0 && int64(len(p)) > l.n {
		p = p[:l.n]
	}
	var n int
	var err error
	if bw := l.send; bw != nil {
		l.send = nil
		n, err = l.sendThenRead(bw, p)
	} else {
		n, err = l.read(p)
	}
	if l.n > 0 {
		l.n -= int64(n)
	}
	return n, err
}

// flushThenRead is sendThenRead without a descriptor: write, then read.
func (l *limitedConn) flushThenRead(bw *bufio.Writer, p []byte) (int, error) {
	if l.sendErr = bw.Flush(); l.sendErr != nil {
		return 0, l.sendErr
	}
	return l.read(p)
}

func (l *limitedConn) read(p []byte) (int, error) {
	if l.rd != nil {
		return l.rd.Read(p)
	}
	return l.Conn.Read(p)
}

// put returns c to the idle pool (or closes it when the pool is full or
// closed, or reap closed it).
func (f *fastForwarder) put(c *upConn) {
	c.idleSince = time.Now()
	f.mu.Lock()
	delete(f.busy, c)
	c.ctx = nil
	if f.closed || c.aborted || len(f.idle) >= f.maxIdle {
		f.mu.Unlock()
		c.nc.Close()
		return
	}
	f.idle = append(f.idle, c)
	f.mu.Unlock()
}

// closeIdle closes every idle connection; with final, none is kept after.
func (f *fastForwarder) closeIdle(final bool) {
	f.mu.Lock()
	idle := f.idle
	f.idle = nil
	f.closed = f.closed || final
	f.mu.Unlock()
	for _, c := range idle {
		c.nc.Close()
	}
}

// roundTrip writes r on c and reads the response's headers. sent reports
// whether the request was written (a write failure on a reused connection
// may be retried whatever the method). A nil res with a nil error means
// the head was of the common shape and is in c.head, its bytes still in
// c's buffer (lb/fasthead.go).
func (f *fastForwarder) roundTrip(w http.ResponseWriter, c *upConn, r *http.Request) (res *http.Response, sent bool, err error) {
	writeRequest(c.bw, r)
	if err := c.armDeadline(f.timeout); err != nil {
		return nil, false, err
	}
	if c.br.Buffered() > 0 { // never so for a pooled connection (put)
		if err := c.bw.Flush(); err != nil {
			return nil, false, err
		}
	}
	// Peek first: a connection closed before any byte of the answer (an
	// idle close) is told apart from a broken answer. Its read sends the
	// request first (limitedConn.send).
	c.lr.send, c.lr.sendErr = c.bw, nil
	_, err = c.br.Peek(1)
	c.lr.send = nil
	if c.lr.sendErr != nil {
		return nil, false, c.lr.sendErr
	}
	if err != nil {
		return nil, true, err
	}
	if r.Method != http.MethodHead {
		if b, _ := c.br.Peek(c.br.Buffered()); c.head.parse(b) {
			return nil, true, nil
		}
	}
	c.lr.n = fastMaxHeaderBytes
	defer func() { c.lr.n = -1 }()
	for n1xx := 0; ; n1xx++ {
		res, err = http.ReadResponse(c.br, r)
		if err != nil {
			// Bytes of an answer arrived: Transport would not send the
			// request again, and neither does the fast path.
			return nil, true, answerStarted{err}
		}
		if res.StatusCode >= 200 || res.StatusCode == http.StatusSwitchingProtocols || res.StatusCode < 100 {
			break
		}
		if n1xx >= fastMax1xx {
			return nil, true, errors.New("net/http: too many 1xx informational responses")
		}
		// Relayed as they come, as ReverseProxy's Got1xxResponse does
		// (headers cleared after: WriteHeader keeps them for 1xx).
		h := w.Header()
		copyHeaders(h, res.Header)
		w.WriteHeader(res.StatusCode)
		clear(h)
	}
	return res, true, nil
}

// copyHeaders adds src's values to dst, as ReverseProxy's copyHeader
// does, sharing src's slices where dst has no such key yet.
func copyHeaders(dst, src http.Header) {
	for k, vv := range src {
		if old, ok := dst[k]; ok {
			dst[k] = append(old, vv...)
		} else {
			dst[k] = vv
		}
	}
}

// relay writes res, the instance's answer read on c, to rt's client, then
// returns c to the pool when it can carry another request.
func (f *fastForwarder) relay(rt *route, c *upConn, res *http.Response) {
	in := f.in
	// As newProxy's ModifyResponse: the lb's X-Request-Id is already on
	// the response.
	delete(res.Header, requestid.Header) // canonical: no Del's canonicalising
	in.served.Add(1)
	in.countStatus(res.StatusCode)
	if res.StatusCode == http.StatusSwitchingProtocols {
		// Nothing asked to switch (fastEligible): ReverseProxy refuses too.
		f.discard(c)
		rt.err = fmt.Errorf("backend tried to switch protocol %q when %q was requested", res.Header.Get("Upgrade"), "")
		return
	}
	ok := false
	defer func() {
		// Cut short (the client left, the copy failed, a panic): the
		// connection is in an unknown state.
		if !ok {
			f.discard(c)
		}
	}()
	if res.ContentLength < 0 || int64(c.br.Buffered()) < res.ContentLength {
		// The body is still to come: the response header timeout no
		// longer applies (as with Transport, none bounds the body).
		if err := c.nc.SetReadDeadline(time.Time{}); err != nil {
			rt.err = err
			return
		}
		c.deadline = time.Time{}
	}
	dst := rt.Header()
	conn := res.Header["Connection"]
	for k, vv := range res.Header {
		if hopHeader(k) || (conn != nil && tokenListed(conn, k)) {
			continue
		}
		if old, has := dst[k]; has {
			dst[k] = append(old, vv...)
		} else {
			dst[k] = vv
		}
	}
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		dst.Add("Trailer", strings.Join(keys, ", "))
	}
	rt.WriteHeader(res.StatusCode)
	if err := f.copyBody(rt, res); err != nil {
		// As ReverseProxy under an http.Server: abort the client's
		// response (a short body, no final chunk).
		panic(http.ErrAbortHandler)
	}
	if len(res.Trailer) > 0 {
		_ = http.NewResponseController(rt).Flush()
		if len(res.Trailer) == announced {
			copyHeaders(dst, res.Trailer)
		} else {
			for k, vv := range res.Trailer {
				for _, v := range vv {
					dst.Add(http.TrailerPrefix+k, v)
				}
			}
		}
	}
	ok = true
	if !res.Close && c.br.Buffered() == 0 {
		f.put(c)
		return
	}
	f.discard(c)
}

// copyBody copies res's body to w through a pooled buffer, flushing after
// every read when the length is unknown or the body is an event stream
// (ReverseProxy's flushInterval -1).
func (f *fastForwarder) copyBody(w *route, res *http.Response) error {
	if res.Body == http.NoBody {
		return nil
	}
	bp := f.bufs.Get().(*[]byte)
	defer f.bufs.Put(bp)
	buf := *bp
	var flusher http.Flusher
	if res.ContentLength < 0 || eventStream(res.Header.Get("Content-Type")) {
		flusher, _ = w.ResponseWriter.(http.Flusher)
	}
	if flusher != nil {
		// The headers go out at once, as ReverseProxy's immediate flush
		// timer sends them: before any body byte, so net/http does not
		// sniff a Content-Type the instance did not send.
		flusher.Flush()
	}
	for {
		n, rerr := res.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// eventStream reports whether content type ct is text/event-stream.
func eventStream(ct string) bool {
	base, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.Trim(base, " \t"), "text/event-stream")
}

// writeRequest writes r's request line and headers as ReverseProxy (with
// newProxy's Rewrite) and http.Transport would: see the fast path's
// description above.
func writeRequest(w *bufio.Writer, r *http.Request) {
	h := r.Header
	conn := h["Connection"]
	w.WriteString(r.Method)
	w.WriteByte(' ')
	p := r.URL.EscapedPath()
	if p == "" {
		p = "/"
	}
	w.WriteString(p)
	if r.URL.ForceQuery || r.URL.RawQuery != "" {
		w.WriteByte('?')
		w.WriteString(cleanQueryParams(r.URL.RawQuery))
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(r.Host)
	w.WriteString("\r\n")
	if ua := h["User-Agent"]; len(ua) > 0 && !(conn != nil && tokenListed(conn, "User-Agent")) {
		if v := cleanValue(ua[0]); v != "" {
			writeHeader(w, "User-Agent", v)
		}
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		w.WriteString("Content-Length: 0\r\n")
	}
	for k, vv := range h {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Forwarded",
			"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
			continue
		}
		if hopHeader(k) || (conn != nil && tokenListed(conn, k)) {
			continue
		}
		for _, v := range vv {
			writeHeader(w, k, cleanValue(v))
		}
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		writeHeader(w, "X-Forwarded-For", ip)
	}
	writeHeader(w, "X-Forwarded-Host", r.Host)
	if r.TLS == nil {
		w.WriteString("X-Forwarded-Proto: http\r\n")
	} else {
		w.WriteString("X-Forwarded-Proto: https\r\n")
	}
	if tokenListed(h["Te"], "trailers") {
		w.WriteString("Te: trailers\r\n")
	}
	w.WriteString("\r\n")
}

func writeHeader(w *bufio.Writer, k, v string) {
	w.WriteString(k)
	w.WriteString(": ")
	w.WriteString(v)
	w.WriteString("\r\n")
}

// cleanValue is a header value as Transport writes it: CR and LF turned
// into spaces, leading and trailing spaces and tabs trimmed.
func cleanValue(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	return strings.Trim(v, " \t")
}

// cleanQueryParams drops unparsable query parameters, as ReverseProxy
// does before Rewrite (it re-encodes the query when one is found).
func cleanQueryParams(s string) string {
	reencode := func(s string) string {
		v, _ := url.ParseQuery(s)
		return v.Encode()
	}
	for i := 0; i < len(s); {
		switch s[i] {
		case ';':
			return reencode(s)
		case '%':
			if i+2 >= len(s) || !ishex(s[i+1]) || !ishex(s[i+2]) {
				return reencode(s)
			}
			i += 3
		default:
			i++
		}
	}
	return s
}

func ishex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}
