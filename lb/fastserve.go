package lb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The fast serve loop (the default; Config.DisableFastServe turns it off)
// accepts the data plane's connections itself and serves their plain
// requests (fastreq.go) without net/http's server: its own head parser,
// its own ResponseWriter (fastresponse.go), no background read per
// request, raw reads and writes (rawio_linux.go). Anything else — a
// body, an upgrade, Expect, an odd target or header, a head that does not
// fit the 4 KiB read buffer — is handed over with the bytes already read
// to an http.Server serving a channel-backed listener, and the
// connection stays with net/http from then on: unusual requests get
// exactly net/http's behaviour (smuggling defences, 400s, upgrades,
// bodies, 100-continue, trailers).
//
// Client aborts: net/http cancels a request's context as soon as its
// client closes the connection (a background read per request). Here the
// serve loop's reaper looks, every fastServeReap, at the requests it saw
// in flight one sweep earlier and peeks (MSG_PEEK, non-blocking) at their
// clients' connections; a closed or reset one cancels the request. So a
// request that takes longer than ~2 sweeps is cancelled within ~100 ms of
// its client leaving, a shorter one runs to its end (its answer's write
// fails), and the common short request pays nothing for the detection. A
// failed write cancels the request at once, as with net/http.

// fastServeReap is the period of the serve loop's abort sweep.
const fastServeReap = 50 * time.Millisecond

// fastReadBuf is the read buffer of a connection (net/http's size): a
// request head must fit in it to be served by the fast loop.
const fastReadBuf = 4 << 10

// fastServer serves one listener with the fast loop.
type fastServer struct {
	h    http.Handler
	log  *slog.Logger
	slow *http.Server
	hand *handoffListener

	readHeaderTimeout, idleTimeout time.Duration

	shutting atomic.Bool
	mu       sync.Mutex
	conns    map[*serveConn]struct{}
}

// connState is where a connection of the fast loop stands.
type connState int32

const (
	connNew    connState = iota // accepted, no byte of a request read yet
	connActive                  // reading a head, or serving a request
	connIdle                    // waiting for the next request
)

// serveConn is one client connection of the fast loop.
type serveConn struct {
	fs         *fastServer
	nc         net.Conn
	raw        syscall.RawConn // nc's descriptor, for the abort peek; nil: none
	rw         io.ReadWriter   // reads and writes nc (ioOf)
	remoteAddr string
	base       context.Context
	br         *bufio.Reader
	bufw       *bufio.Writer // the connection's, as net/http's conn.bufw
	cw         fastChunkWriter
	bw         *bufio.Writer // the response's, as net/http's response.w
	deadline   time.Time     // the read deadline set on nc
	res        fastResponse  // the request's response (serveRequest)
	respHeader http.Header   // its handler's header map
	snapHeader http.Header   // its snapshot (fastResponse.snapshot)
	snapVals   []string      // the snapshot's values
	werr       error         // the first write error

	dateSec int64 // the second dateVal formats
	dateLen int
	dateVal [len(http.TimeFormat)]byte

	// Guarded by fs.mu.
	state   connState
	since   time.Time // when state was set (connNew)
	seq     uint64    // requests served so far
	cancel  context.CancelFunc
	handler bool // a request is in the handler
	seenSeq uint64
	seen    bool // in the handler with seenSeq at the last sweep
}

// serveFast serves ln with the fast loop until ctx ends, then shuts down
// gracefully like net/http's Shutdown (bounded by StopTimeout): no new
// connection, idle ones closed, in-flight requests finished (answered
// with Connection: close).
func (l *LB) serveFast(ctx context.Context, ln net.Listener, h http.Handler) error {
	fs := &fastServer{
		h:   h,
		log: l.log,
		slow: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: l.cfg.ReadHeaderTimeout,
			IdleTimeout:       l.cfg.IdleTimeout,
			MaxHeaderBytes:    2 * l.cfg.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
		},
		hand:              newHandoffListener(ln.Addr()),
		readHeaderTimeout: l.cfg.ReadHeaderTimeout,
		idleTimeout:       l.cfg.IdleTimeout,
		conns:             map[*serveConn]struct{}{},
	}
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		_ = fs.slow.Serve(fs.hand) // ErrServerClosed once shut down
	}()
	reapDone := make(chan struct{})
	go fs.reapLoop(reapDone)
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), l.cfg.StopTimeout)
		defer cancel()
		fs.shutting.Store(true)
		_ = ln.Close()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = fs.slow.Shutdown(sctx)
		}()
		fs.drain(sctx)
		wg.Wait()
		close(reapDone)
	}()
	err := fs.acceptLoop(ln)
	if fs.shutting.Load() {
		<-done
		<-slowDone
		return nil
	}
	return fmt.Errorf("lb: serve: %w", err)
}

// acceptLoop accepts connections until ln fails, backing off on
// temporary errors as net/http does.
func (fs *fastServer) acceptLoop(ln net.Listener) error {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if fs.shutting.Load() {
				return err
			}
			var ne interface{ Temporary() bool }
			if errors.As(err, &ne) && ne.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				fs.log.Debug("accept error, retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := fs.newConn(nc)
		fs.mu.Lock()
		if fs.shutting.Load() {
			fs.mu.Unlock()
			_ = nc.Close()
			continue
		}
		fs.conns[c] = struct{}{}
		fs.mu.Unlock()
		go c.serve()
	}
}

func (fs *fastServer) newConn(nc net.Conn) *serveConn {
	c := &serveConn{fs: fs, nc: nc, state: connNew, since: time.Now()}
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	if ra := nc.RemoteAddr(); ra != nil {
		c.remoteAddr = ra.String()
	}
	c.base = context.WithValue(context.WithValue(context.Background(),
		http.ServerContextKey, fs.slow), http.LocalAddrContextKey, nc.LocalAddr())
	c.rw = ioOf(nc)
	c.br = bufio.NewReaderSize(c.rw, fastReadBuf)
	c.bufw = bufio.NewWriterSize(connErrorWriter{c}, 4<<10)
	c.bw = bufio.NewWriterSize(&c.cw, bufferBeforeChunking)
	return c
}

// drain closes idle connections until none is left or ctx ends, as
// http.Server.Shutdown does: a new connection is given 5 s to send its
// first request.
func (fs *fastServer) drain(ctx context.Context) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		fs.mu.Lock()
		now := time.Now()
		for c := range fs.conns {
			if c.state == connIdle || (c.state == connNew && now.Sub(c.since) > 5*time.Second) {
				_ = c.nc.Close()
				delete(fs.conns, c)
			}
		}
		left := len(fs.conns)
		fs.mu.Unlock()
		if left == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// setState records c's state; it reports false when the server is
// shutting down and c was closed (or must close).
func (c *serveConn) setState(s connState) bool {
	fs := c.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, ok := fs.conns[c]; !ok {
		return false
	}
	c.state = s
	return !(s == connIdle && fs.shutting.Load())
}

// forget removes c from the server's connections.
func (c *serveConn) forget() {
	c.fs.mu.Lock()
	delete(c.fs.conns, c)
	c.fs.mu.Unlock()
}

// serve reads and serves c's requests until it closes, or hands it over.
func (c *serveConn) serve() {
	fs := c.fs
	handed := false
	defer func() {
		if !handed {
			c.forget()
			_ = c.bufw.Flush()
			_ = c.nc.Close()
		}
	}()
	if d := fs.readHeaderTimeout; d > 0 {
		c.setDeadline(time.Now().Add(d))
	}
	var h reqHead
	for first := true; ; first = false {
		if !first {
			if !c.setState(connIdle) {
				return
			}
			c.armIdle()
			// Like net/http: no header timeout before the request's first
			// bytes are in.
		}
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		if !c.setState(connActive) {
			return
		}
		headTimed := first
		for {
			b, _ := c.br.Peek(c.br.Buffered())
			switch parseRequestHead(b, &h) {
			case headOK:
			case headHandOver:
				handed = c.handOver()
				return
			default:
				if c.br.Buffered() >= fastReadBuf {
					handed = c.handOver()
					return
				}
				if !headTimed {
					headTimed = true
					if d := fs.readHeaderTimeout; d > 0 {
						c.setDeadline(time.Now().Add(d))
					}
				}
				if _, err := c.br.Peek(c.br.Buffered() + 1); err != nil {
					if isTimeout(err) {
						return // net/http hangs up without answering too
					}
					// Whatever net/http answers to a head cut short.
					handed = c.handOver()
					return
				}
				continue
			}
			break
		}
		_, _ = c.br.Discard(h.size)
		if fs.shutting.Load() {
			return // as net/http: a request read during shutdown is dropped
		}
		if !c.serveRequest(&h) {
			return
		}
	}
}

// setDeadline sets nc's read deadline to t.
func (c *serveConn) setDeadline(t time.Time) {
	c.deadline = t
	_ = c.nc.SetReadDeadline(t)
}

// armIdle bounds the wait for the next request by IdleTimeout, keeping
// the deadline already set when it is at most a second early (most
// requests then pay no timer update).
func (c *serveConn) armIdle() {
	d := c.fs.idleTimeout
	if d <= 0 {
		if !c.deadline.IsZero() {
			c.setDeadline(time.Time{})
		}
		return
	}
	now := time.Now()
	slack := min(deadlineSlack, d/8)
	if left := c.deadline.Sub(now); !c.deadline.IsZero() && left <= d && left >= d-slack {
		return
	}
	c.setDeadline(now.Add(d))
}

// handOver gives c, with the bytes it buffered, to the net/http server;
// it reports whether net/http took it.
func (c *serveConn) handOver() bool {
	c.forget()
	buf, _ := c.br.Peek(c.br.Buffered())
	rc := &replayConn{Conn: c.nc, buf: append([]byte(nil), buf...)}
	_ = c.nc.SetReadDeadline(time.Time{}) // net/http sets its own
	return c.fs.hand.give(rc)
}

// serveRequest serves one parsed request; it reports whether the
// connection may carry another.
func (c *serveConn) serveRequest(h *reqHead) (keep bool) {
	fs := c.fs
	ctx, cancel := context.WithCancel(c.base)
	r0 := http.Request{
		Method:     h.method,
		URL:        h.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h.header,
		Body:       http.NoBody,
		Host:       h.host,
		Close:      h.close,
		RemoteAddr: c.remoteAddr,
		RequestURI: h.target,
	}
	r := r0.WithContext(ctx)
	// The response and its header maps are the connection's, reused from
	// one request to the next: a handler must not use them once it has
	// returned (as with net/http).
	if c.respHeader == nil {
		c.respHeader = make(http.Header)
	} else {
		clear(c.respHeader)
	}
	c.res = fastResponse{c: c, req: r, handlerHeader: c.respHeader, contentLength: -1,
		isHead: h.method == http.MethodHead, wantsClose: h.close}
	w := &c.res
	c.cw.reset(w)
	c.bw.Reset(&c.cw)

	fs.mu.Lock()
	c.seq++
	c.cancel, c.handler = cancel, true
	fs.mu.Unlock()
	defer func() {
		fs.mu.Lock()
		c.handler, c.cancel = false, nil
		fs.mu.Unlock()
		cancel()
		if err := recover(); err != nil {
			if err != http.ErrAbortHandler {
				const size = 64 << 10
				buf := make([]byte, size)
				buf = buf[:runtime.Stack(buf, false)]
				fs.log.Debug("http: panic serving", "remote", c.remoteAddr, "err", err, "stack", string(buf))
			}
			keep = false // the deferred close flushes what the connection buffered
		}
	}()
	fs.h.ServeHTTP(w, r)
	w.finishRequest()
	return w.shouldReuseConnection() && !fs.shutting.Load()
}

// reapLoop sweeps for aborted requests until done closes.
func (fs *fastServer) reapLoop(done <-chan struct{}) {
	t := time.NewTicker(fastServeReap)
	defer t.Stop()
	var suspects []*serveConn
	var seqs []uint64
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		suspects, seqs = suspects[:0], seqs[:0]
		fs.mu.Lock()
		for c := range fs.conns {
			if !c.handler {
				c.seen = false
				continue
			}
			if c.seen && c.seenSeq == c.seq {
				suspects = append(suspects, c)
				seqs = append(seqs, c.seq)
			}
			c.seen, c.seenSeq = true, c.seq
		}
		fs.mu.Unlock()
		for i, c := range suspects {
			if c.raw == nil || !clientGone(c.raw) {
				continue
			}
			fs.mu.Lock()
			if c.handler && c.seq == seqs[i] && c.cancel != nil {
				c.cancel()
			}
			fs.mu.Unlock()
		}
	}
}

// connErrorWriter writes to the client, recording the first error and
// cancelling the request in flight (net/http's checkConnErrorWriter).
type connErrorWriter struct{ c *serveConn }

func (w connErrorWriter) Write(p []byte) (int, error) {
	c := w.c
	n, err := c.rw.Write(p)
	if err != nil && c.werr == nil {
		c.werr = err
		c.fs.mu.Lock()
		if c.cancel != nil {
			c.cancel()
		}
		c.fs.mu.Unlock()
	}
	return n, err
}

// handoffListener is the net/http server's listener: the connections the
// fast loop hands over.
type handoffListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

// give hands c to the server; false (c closed) once the listener closed.
func (l *handoffListener) give(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		_ = c.Close()
		return false
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// replayConn is a connection whose first reads return bytes already read
// from it.
type replayConn struct {
	net.Conn
	buf []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
