// Package netem puts a fault-injecting TCP proxy in front of one upstream
// address, in process, on loopback: added latency with jitter, and a cut
// (partition) that is later healed.
//
// It is built on github.com/Shopify/toxiproxy/v2 rather than written by
// hand: the library is well kept, its proxy already handles the links,
// half-closes and teardown a hand-written one gets subtly wrong, and its
// toxics are the ones Shopify tests its own services with. Only its Go
// packages are used (no toxiproxy server, no HTTP API).
//
// Which toxic gives which fault:
//
//   - Latency: a microsecond-resolution copy of toxiproxy's latency toxic
//     (registered here as "authlab_latency_us"; toxiproxy's own latency
//     toxic counts whole milliseconds, too coarse for a 0.5 ms round trip
//     or 200 µs of jitter). The whole added round trip is applied to the
//     replies (downstream): every reply chunk leaves RTT ± jitter
//     (uniform) after it arrived, so one request/response exchange pays
//     exactly one RTT more. One direction rather than half on each: a
//     timer wait costs up to ~1 ms of overshoot in an idle Go process
//     (epoll's millisecond granularity), so each delay ends with a short
//     yielding wait (spinWindow) instead, and one such wait per exchange
//     costs half the CPU of two.
//   - Cut (a partition): toxiproxy's timeout toxic with timeout 0 on both
//     directions. Connections stay open and new ones are accepted, but no
//     byte goes through and nothing is closed: the client HANGS until its
//     own timeout, as it would behind a dropped route. The bytes held are
//     dropped (not delivered late), so at the heal the connections that
//     were cut are closed and new connections work again.
//   - A crash is different: Redis (or a disabled proxy) refuses the
//     connection at once. This package does not model it; stop the
//     upstream for that.
package netem

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// latencyToxicType is the toxic type name of microLatency.
const latencyToxicType = "authlab_latency_us"

func init() {
	// toxiproxy finds toxics by type name in its registry; registering in
	// init is its documented extension point (CREATING_TOXICS.md).
	toxics.Register(latencyToxicType, new(microLatency))
}

// Names of the toxics a Proxy adds.
const (
	latencyUp   = "latency_up"
	latencyDown = "latency_down"
	cutUp       = "cut_up"
	cutDown     = "cut_down"
)

// Proxy is a running fault-injecting proxy. Its methods are safe for
// concurrent use.
type Proxy struct {
	mu       sync.Mutex
	proxy    *toxiproxy.Proxy
	upstream string
	latency  time.Duration
	jitter   time.Duration
	cut      bool
	closed   bool
}

// Start starts a proxy on a free 127.0.0.1 port in front of upstream
// (host:port), passing traffic through unchanged until told otherwise.
func Start(upstream string) (*Proxy, error) {
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(server, "netem-"+upstream, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("netem: start proxy to %s: %w", upstream, err)
	}
	return &Proxy{proxy: p, upstream: upstream}, nil
}

// Addr is the proxy's listening address, 127.0.0.1:port.
func (p *Proxy) Addr() string { return p.proxy.Listen }

// Upstream is the address the proxy forwards to.
func (p *Proxy) Upstream() string { return p.upstream }

// String describes the proxy: where it forwards and the conditions it
// adds, e.g. "toxiproxy → 127.0.0.1:4000, +2ms ± 200µs".
func (p *Proxy) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := "toxiproxy → " + p.upstream
	if p.latency != 0 || p.jitter != 0 {
		s += fmt.Sprintf(", +%s ± %s", p.latency, p.jitter)
	}
	if p.cut {
		s += ", cut"
	}
	return s
}

// Latency returns the added round trip and jitter now in effect.
func (p *Proxy) Latency() (rtt, jitter time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.latency, p.jitter
}

// SetLatency adds rtt to every request/response round trip through the
// proxy, ± jitter: every reply chunk (downstream) is delayed by rtt ±
// jitter; requests pass at once.
// Zero for both removes the delay. It applies to open connections too.
func (p *Proxy) SetLatency(ctx context.Context, rtt, jitter time.Duration) error {
	if rtt < 0 || jitter < 0 {
		return fmt.Errorf("netem: latency and jitter must be ≥ 0, got %s ± %s", rtt, jitter)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("netem: proxy closed")
	}
	for _, name := range []string{latencyUp, latencyDown} {
		if err := p.proxy.Toxics.RemoveToxic(ctx, name); err != nil && !errors.Is(err, toxiproxy.ErrToxicNotFound) {
			return fmt.Errorf("netem: remove %s: %w", name, err)
		}
	}
	p.latency, p.jitter = 0, 0
	if rtt == 0 && jitter == 0 {
		return nil
	}
	attrs := microLatency{LatencyUs: rtt.Microseconds(), JitterUs: jitter.Microseconds()}
	if err := p.addToxic(latencyDown, latencyToxicType, "downstream", attrs); err != nil {
		return err
	}
	p.latency, p.jitter = rtt, jitter
	return nil
}

// Cut partitions the proxy: from now on no byte goes through in either
// direction and nothing is closed, so clients hang (until their own
// timeouts) rather than being refused. Cutting twice is a no-op.
func (p *Proxy) Cut(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("netem: proxy closed")
	}
	if p.cut {
		return nil
	}
	for _, t := range []struct{ name, stream string }{{cutUp, "upstream"}, {cutDown, "downstream"}} {
		if err := p.addToxic(t.name, "timeout", t.stream, toxics.TimeoutToxic{Timeout: 0}); err != nil {
			return err
		}
	}
	p.cut = true
	return nil
}

// Heal ends a cut: the connections that were cut are closed (the bytes
// they held were dropped) and new connections go through again. Healing
// an uncut proxy is a no-op.
func (p *Proxy) Heal(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !p.cut {
		return nil
	}
	var errs []error
	for _, name := range []string{cutUp, cutDown} {
		if err := p.proxy.Toxics.RemoveToxic(ctx, name); err != nil && !errors.Is(err, toxiproxy.ErrToxicNotFound) {
			errs = append(errs, fmt.Errorf("netem: remove %s: %w", name, err))
		}
	}
	p.cut = false
	return errors.Join(errs...)
}

// IsCut reports whether the proxy is cut.
func (p *Proxy) IsCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// Close stops the proxy and closes every connection through it. It is
// safe to call twice.
func (p *Proxy) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.proxy.Toxics.ResetToxics(context.Background())
	p.proxy.Stop()
	return nil
}

// addToxic adds one toxic through toxiproxy's JSON configuration (its one
// public way to add one).
func (p *Proxy) addToxic(name, typ, stream string, attrs any) error {
	body, err := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": 1.0, "attributes": attrs})
	if err != nil {
		return fmt.Errorf("netem: encode toxic %s: %w", name, err)
	}
	if _, err := p.proxy.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
		return fmt.Errorf("netem: add toxic %s: %w", name, err)
	}
	return nil
}

// microLatency is toxiproxy's latency toxic with microsecond resolution:
// every chunk leaves LatencyUs ± JitterUs (uniform) after it arrived,
// chunks in order.
type microLatency struct {
	LatencyUs int64 `json:"latency_us"`
	JitterUs  int64 `json:"jitter_us"`
}

// spinWindow is the tail of a delay waited by yielding in a loop rather
// than on a timer: an idle Go process sleeps in epoll with millisecond
// granularity, which would round a 250 µs delay up to about 1 ms.
const spinWindow = time.Millisecond

// waitUntil waits until deadline: on timer for all but the last
// spinWindow, then yielding. It returns false when interrupted first.
func waitUntil(deadline time.Time, timer *time.Timer, interrupt <-chan struct{}) bool {
	if coarse := time.Until(deadline) - spinWindow; coarse > 0 {
		timer.Reset(coarse)
		select {
		case <-timer.C:
		case <-interrupt:
			timer.Stop()
			return false
		}
	}
	for time.Now().Before(deadline) {
		select {
		case <-interrupt:
			return false
		default:
			runtime.Gosched()
		}
	}
	return true
}

// GetBufferSize implements toxics.BufferedToxic (as the latency toxic).
func (t *microLatency) GetBufferSize() int { return 1024 }

func (t *microLatency) delay() time.Duration {
	d := t.LatencyUs
	if t.JitterUs > 0 {
		d += rand.Int64N(2*t.JitterUs+1) - t.JitterUs
	}
	return time.Duration(max(0, d)) * time.Microsecond
}

// Pipe implements toxics.Toxic: the latency toxic's loop, interruptible,
// never dropping a chunk.
func (t *microLatency) Pipe(stub *toxics.ToxicStub) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			if !waitUntil(c.Timestamp.Add(t.delay()), timer, stub.Interrupt) {
				stub.Output <- c // in flight: pass it on, then stop
				return
			}
			stub.Output <- c
		}
	}
}
