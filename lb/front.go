package lb

import (
	"context"
	"errors"
	"fmt"
)

// Front stands between the lb and one child instance's data address: a
// fault-injecting proxy (`authlab lb --upstream-latency`), or anything
// else that forwards TCP. The lb sends the instance's requests and its
// health checks to Addr, so a delay or a cut in the front is one the lb
// sees as it would see the network's; the child's admin address (kill,
// heap, the harness's own polling) is reached directly.
type Front interface {
	// Addr is the front's listening address (host:port).
	Addr() string
	// Close stops the front and closes the connections through it.
	Close() error
}

// FrontFunc starts a Front before addr, the data address child instance
// id is about to listen on: nothing listens there yet, so the front must
// dial its upstream per connection (as a TCP proxy does). The lb calls it
// whenever it gives a child fresh ports (at start, and when a revive
// moves the child), and closes the front those ports had.
type FrontFunc func(ctx context.Context, id, addr string) (Front, error)

// errFrontExternal: fronts stand only before children.
var errFrontExternal = errors.New("a front (upstream latency) stands only before child instances: the lb does not choose an external instance's address, give that instance its own proxy")

// startFront puts a front before ep when the lb has a FrontFunc: the
// endpoint then routes to the front and keeps the child's own address as
// listen.
func (l *LB) startFront(ctx context.Context, id string, ep *endpoint) (*endpoint, error) {
	if l.cfg.Front == nil {
		return ep, nil
	}
	f, err := l.cfg.Front(ctx, id, ep.addr)
	if err != nil {
		return nil, fmt.Errorf("front before %s (%s): %w", id, ep.addr, err)
	}
	fronted := newEndpoint(f.Addr(), ep.adminAddr, l.cfg.HealthPath)
	fronted.listen, fronted.front = ep.addr, f
	return fronted, nil
}

// closeFront stops ep's front, if it has one.
func (l *LB) closeFront(ep *endpoint) {
	if ep == nil || ep.front == nil {
		return
	}
	if err := ep.front.Close(); err != nil {
		l.log.Warn("close front", "front", ep.addr, "upstream", ep.listen, "err", err)
	}
}

// closeFronts stops every instance's front (once its child is stopped).
func (l *LB) closeFronts() {
	for _, in := range l.insts {
		l.closeFront(in.endpoint())
	}
}

// describeFront is f's String when it has one, else "front at <addr>".
func describeFront(f Front) string {
	if s, ok := f.(fmt.Stringer); ok {
		return s.String()
	}
	return "front at " + f.Addr()
}
