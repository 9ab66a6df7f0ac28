package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authlab/authlab/bench/netem"
	"github.com/authlab/authlab/lb"
)

// lbFront are `authlab lb`'s network-condition flags: a fault-injecting
// proxy (package netem, an in-process toxiproxy) before every child
// gateway's data address, adding latency to each lb↔gateway round trip.
type lbFront struct {
	latency, jitter time.Duration
}

func (n *lbFront) register(fsVar func(p *time.Duration, name string, value time.Duration, usage string)) {
	fsVar(&n.latency, "upstream-latency", 0, "round trip added to every lb↔gateway exchange (requests and health checks; not the gateways' admin addresses) by an in-process toxiproxy before each child gateway, delaying its replies (e.g. 2ms; children only, not --instance-addr)")
	fsVar(&n.jitter, "upstream-jitter", 0, "± on --upstream-latency's round trip (uniform; e.g. 200us)")
}

// apply sets cfg.Front when a latency or jitter is asked for. It runs
// once cfg.External is parsed.
func (n *lbFront) apply(cfg *lb.Config) error {
	if n.latency < 0 || n.jitter < 0 {
		return fmt.Errorf("--upstream-latency and --upstream-jitter must be ≥ 0, got %s and %s", n.latency, n.jitter)
	}
	if n.latency == 0 && n.jitter == 0 {
		return nil
	}
	if len(cfg.External) > 0 {
		return errors.New("--upstream-latency/--upstream-jitter apply to the gateways the lb starts, not to --instance-addr: the lb does not choose an external instance's address (put a proxy before it yourself)")
	}
	cfg.Front = netemFront(n.latency, n.jitter)
	return nil
}

// netemFront starts a netem proxy before a child's data address with the
// given latency and jitter.
func netemFront(latency, jitter time.Duration) lb.FrontFunc {
	return func(ctx context.Context, _ string, addr string) (lb.Front, error) {
		p, err := netem.Start(addr)
		if err != nil {
			return nil, err
		}
		if err := p.SetLatency(ctx, latency, jitter); err != nil {
			_ = p.Close()
			return nil, err
		}
		return p, nil
	}
}
