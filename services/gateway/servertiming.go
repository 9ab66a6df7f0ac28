package gateway

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// ServerTimingHeader is the W3C Server-Timing response header. On every
// proxied /api/* response the gateway sends its own metrics in it, in
// milliseconds:
//
//	authn;dur=…     the strategy's Authenticate
//	assert;dur=…    minting (or reusing) the internal identity assertion
//	upstream;dur=…  the round trip to the backend, until its headers
//	gw;dur=…        everything inside the gateway, until the backend's
//	                headers are relayed (so gw ≥ authn + assert + upstream)
//
// A request refused at authentication carries authn and gw only.
const ServerTimingHeader = "Server-Timing"

// reqState is one data-plane request's own state, made once by observe
// and carried in its context: when the gateway got it, the signed
// assertion the proxy forwards, and the hop timings of Server-Timing.
type reqState struct {
	start         time.Time
	assertion     string // signed identity assertion, set by authenticate
	authn, assert time.Duration
	upstreamStart time.Time // set by rewrite, just before the round trip
	// timing backs the Server-Timing header's value slice, so setting it
	// allocates only the string.
	timing [1]string
}

type reqStateKey struct{}

// withReqState returns ctx carrying st.
func withReqState(ctx context.Context, st *reqState) context.Context {
	return context.WithValue(ctx, reqStateKey{}, st)
}

// reqStateFrom returns the request state in ctx, or nil.
func reqStateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(reqStateKey{}).(*reqState)
	return st
}

// serverTiming builds the Server-Timing value of a proxied response whose
// headers arrived from the backend at now: one allocation, the string.
func (st *reqState) serverTiming(now time.Time) string {
	var buf [112]byte
	b := appendTiming(buf[:0], "authn", st.authn)
	b = append(b, ", "...)
	b = appendTiming(b, "assert", st.assert)
	b = append(b, ", "...)
	b = appendTiming(b, "upstream", now.Sub(st.upstreamStart))
	b = append(b, ", "...)
	b = appendTiming(b, "gw", now.Sub(st.start))
	return string(b)
}

// refusedTiming builds the Server-Timing value of a request refused at
// authentication: the strategy's time and the gateway's.
func (st *reqState) refusedTiming(now time.Time) string {
	var buf [64]byte
	b := appendTiming(buf[:0], "authn", st.authn)
	b = append(b, ", "...)
	b = appendTiming(b, "gw", now.Sub(st.start))
	return string(b)
}

// appendTiming appends one W3C Server-Timing metric, name;dur=<ms> with
// microsecond precision.
func appendTiming(b []byte, name string, d time.Duration) []byte {
	b = append(b, name...)
	b = append(b, ";dur="...)
	return strconv.AppendFloat(b, float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

// setServerTiming adds v to h's Server-Timing, after any value already
// there (the backend's own metrics, if it sent some).
func (st *reqState) setServerTiming(h http.Header, v string) {
	if old := h[ServerTimingHeader]; len(old) > 0 {
		h[ServerTimingHeader] = append(old, v)
		return
	}
	st.timing[0] = v
	h[ServerTimingHeader] = st.timing[:]
}
