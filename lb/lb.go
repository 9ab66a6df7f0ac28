// Package lb is authlab's load balancer: a reverse proxy in front of
// several gateway instances that it can kill and revive on demand, the
// instrument of every failover measurement.
//
// It starts child instances as processes (Config.Command; in production a
// copy of its own executable running "gateway"), or fronts external
// instances by address. Routing policies are round-robin, least-conn and
// cookie-sticky; health comes from active checks (interval, fall, rise) and
// passive detection (connection refused or reset marks an instance down at
// once); failed idempotent requests can be retried on another instance. An
// admin API under /_lb/ lists, kills (sigkill, drain, freeze) and revives
// instances and returns an event log stamped on a monotonic clock, and
// /metrics serves Prometheus metrics.
//
// The data plane (Serve, ServeHTTP) and the admin plane (ServeAdmin,
// AdminHandler) listen apart: the data port answers 404 itself for /_lb/*,
// /_admin/* and /metrics and never proxies them. Every request carries an
// X-Request-Id (made when the client sent none or an unusable one),
// forwarded to the instance and echoed on the response.
package lb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authlab/authlab/internal/bufpool"
	"github.com/prometheus/client_golang/prometheus"
)

// LB is a load balancer. Create it with New, start it with Start, serve it
// (it is an http.Handler) and stop it with Close or by ending Start's ctx.
type LB struct {
	cfg   Config
	log   *slog.Logger
	insts []*instance
	byID  map[string]*instance

	transport *http.Transport // to the instances, shared by their proxies
	health    *http.Client    // health checks and external /_admin/exit
	events    eventLog
	admin     http.Handler
	metrics   http.Handler
	registry  *prometheus.Registry

	// sel is the policy's selector, built by Start once the instances have
	// their ids (and set before isReady).
	sel selector

	retry     atomic.Bool // Config.Retry, switched by SetRetry
	retries   atomic.Uint64
	noHealthy atomic.Uint64

	startOnce sync.Once
	started   atomic.Bool
	isReady   atomic.Bool // instances named and healthy: serving may begin
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	// lifeMu orders goroutine and process starts before stopChildren: once
	// stopping is set nothing new is started (and wg.Add never races Wait).
	lifeMu   sync.Mutex
	stopping bool
}

// ErrStopping is returned by operations attempted while the lb stops.
var ErrStopping = errors.New("lb is stopping")

// New validates cfg and builds a load balancer. Nothing runs until Start.
func New(cfg Config) (*LB, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &LB{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "lb"),
		byID:   map[string]*instance{},
		events: eventLog{start: time.Now(), now: cfg.Now},
	}
	l.retry.Store(cfg.Retry)
	for i := 1; i <= cfg.Instances; i++ {
		l.insts = append(l.insts, &instance{id: fmt.Sprintf("gw%d", i)})
	}
	for _, e := range cfg.External {
		in := &instance{external: true}
		in.ep.Store(newEndpoint(e.Addr, e.AdminAddr, cfg.HealthPath))
		l.insts = append(l.insts, in)
	}
	if cfg.AbortOnDown {
		for _, in := range l.insts {
			in.aborts = &abortSet{}
		}
	}
	l.transport = &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   2 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          0, // no global limit
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.UpstreamTimeout,
		DisableCompression:    true,
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        16 << 10,
	}
	l.health = &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: cfg.HealthTimeout}).DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
		Timeout: cfg.HealthTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	bufs, errLog := bufpool.New(), slog.NewLogLogger(l.log.Handler(), slog.LevelDebug)
	copyBufs := newCopyBufPool()
	for _, in := range l.insts {
		in.proxy = newProxy(in, l.transport, bufs, errLog)
		if !cfg.DisableFastPath {
			in.fast = newFastForwarder(in, cfg, copyBufs)
		}
	}
	l.admin = l.adminHandler()
	l.registry = prometheus.NewRegistry()
	if err := l.registerMetrics(); err != nil {
		return nil, err
	}
	return l, nil
}

// Start starts the child instances, waits until every instance (children
// and external ones) answers its health check, then starts the health
// checks. Children are stopped when ctx ends or Close is called. Start may
// be called once.
func (l *LB) Start(ctx context.Context) error {
	err := errors.New("lb: Start called twice")
	l.startOnce.Do(func() { err = l.start(ctx) })
	return err
}

func (l *LB) start(ctx context.Context) error {
	l.ctx, l.cancel = context.WithCancel(ctx)
	l.started.Store(true)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		<-l.ctx.Done()
		l.stopChildren()
	}()

	sctx, cancel := context.WithTimeout(l.ctx, l.cfg.StartupTimeout)
	defer cancel()
	if err := l.startInstances(sctx); err != nil {
		l.Close()
		return err
	}
	if err := l.nameExternals(sctx); err != nil {
		l.Close()
		return err
	}
	l.becomeReady()
	return nil
}

// startInstances starts every child and waits until it, and every external
// instance, answers its health check.
func (l *LB) startInstances(ctx context.Context) error {
	errs := make([]error, len(l.insts))
	var wg sync.WaitGroup
	for i, in := range l.insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if in.external {
				errs[i] = l.waitExternal(ctx, in.endpoint())
				return
			}
			if _, err := l.launch(ctx, in, 0); err != nil {
				errs[i] = fmt.Errorf("instance %s: %w", in.id, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lb: start instances: %w", err)
	}
	return nil
}

// becomeReady builds the policy's selector over the named instances, puts
// every instance in rotation and starts their health checks.
func (l *LB) becomeReady() {
	p, _ := lookupPolicy(l.cfg.Policy) // Validate vouched for it
	l.sel = p.build(l.cfg, l.insts)
	for _, in := range l.insts {
		in.healthy.Store(true)
		in.mu.Lock()
		in.oks = l.cfg.HealthRise
		in.mu.Unlock()
		l.byID[in.id] = in
		l.events.add(Event{Type: EventUp, Instance: in.id, Reason: "started", PID: in.pid()})
	}
	l.isReady.Store(true)
	for _, in := range l.insts {
		_ = l.goTracked(func() { l.healthLoop(in) }) // fails only when stopping
	}
	if !l.cfg.DisableFastPath {
		_ = l.goTracked(l.reapFastPath)
	}
	l.log.Info("instances ready", "count", len(l.insts), "policy", l.cfg.Policy)
}

// reapFastPath cuts the fast path's requests whose client left, until
// the lb stops.
func (l *LB) reapFastPath() {
	t := time.NewTicker(reapInterval)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
			for _, in := range l.insts {
				in.fast.reap()
			}
		}
	}
}

// nameExternals gives external instances the id they report on /healthz.
func (l *LB) nameExternals(ctx context.Context) error {
	seen := map[string]bool{}
	for _, in := range l.insts {
		if !in.external {
			seen[in.id] = true
		}
	}
	n := 0
	for _, in := range l.insts {
		if !in.external {
			continue
		}
		n++
		id := l.reportedID(ctx, in.endpoint().health)
		if id == "" || seen[id] || strings.ContainsAny(id, "/?#% ") {
			id = fmt.Sprintf("ext%d", n)
		}
		if seen[id] {
			return fmt.Errorf("lb: duplicate instance id %q", id)
		}
		seen[id] = true
		in.id = id
	}
	return nil
}

func (l *LB) reportedID(ctx context.Context, healthURL string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, healthURL, nil)
	if err != nil {
		return ""
	}
	resp, err := l.health.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var body struct {
		Instance string `json:"instance"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&body) != nil {
		return ""
	}
	return body.Instance
}

// Close stops the health checks and every child (SIGTERM, then SIGKILL
// after StopTimeout) and waits until all of them have exited.
func (l *LB) Close() {
	l.closeOnce.Do(func() {
		if !l.started.Load() {
			return
		}
		l.cancel()
		l.wg.Wait()
		l.closeFronts()
		l.transport.CloseIdleConnections()
		for _, in := range l.insts {
			if in.fast != nil {
				in.fast.closeIdle(true)
			}
		}
		l.health.CloseIdleConnections()
	})
}

// Serve serves the data plane (the proxy; see ServeHTTP) on ln until ctx
// ends, then shuts the server down gracefully (bounded by StopTimeout). It
// may be called before Start: requests are answered 503 until the
// instances are ready. It does not stop the children: call Close (or end
// Start's ctx) for that.
func (l *LB) Serve(ctx context.Context, ln net.Listener) error {
	if !l.cfg.DisableFastServe {
		return l.serveFast(ctx, ln, l) // lb/fastserve.go
	}
	return l.serve(ctx, ln, l)
}

// ServeAdmin serves the admin plane (see AdminHandler) on ln, like Serve.
// Give it a loopback listener: the admin API is token-guarded, the metrics
// and health endpoints are not.
func (l *LB) ServeAdmin(ctx context.Context, ln net.Listener) error {
	return l.serve(ctx, ln, l.admin)
}

func (l *LB) serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.cfg.ReadHeaderTimeout,
		IdleTimeout:       l.cfg.IdleTimeout,
		// The handlers answer 431 with a JSON body above MaxHeaderBytes;
		// net/http refuses (plain text) what is far beyond.
		MaxHeaderBytes: 2 * l.cfg.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), l.cfg.StopTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return fmt.Errorf("lb: serve: %w", err)
}

// Instances lists every instance.
func (l *LB) Instances() []InstanceInfo {
	out := make([]InstanceInfo, len(l.insts))
	for i, in := range l.insts {
		out[i] = in.info()
	}
	return out
}

// Instance returns one instance by id.
func (l *LB) Instance(id string) (InstanceInfo, error) {
	in, ok := l.byID[id]
	if !ok {
		return InstanceInfo{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return in.info(), nil
}

// Events returns the events with a sequence number above since (0: all).
func (l *LB) Events(since uint64) []Event { return l.events.since(since) }

// RetryEnabled reports whether failed requests are retried on another
// instance now.
func (l *LB) RetryEnabled() bool { return l.retry.Load() }

// SetRetry switches retries on or off (Config.Retry is the initial
// setting) and records a "retry" event when it changes. Bodies are
// buffered for replay only when the lb started with Config.Retry: switched
// on later, retries cover requests without a body.
func (l *LB) SetRetry(on bool) {
	if l.retry.Swap(on) != on {
		reason := "off"
		if on {
			reason = "on"
		}
		l.events.add(Event{Type: EventRetry, Reason: reason})
		l.log.Info("retry switched", "retry", on)
	}
}
