package lb

import (
	"net/http"
	"strconv"
	"time"
)

// ServerTimingHeader is the W3C Server-Timing response header. The lb
// adds its own share, lb;dur=<ms>: the time from ServeHTTP's entry until
// the response's headers are written, upstream included. The gateway's
// gw;dur= (when the instance sent one) is inside it, so the lb's own
// overhead is lb − gw.
const ServerTimingHeader = "Server-Timing"

// timingWriter adds the lb's Server-Timing entry to the response's
// headers just before they are written. ServeHTTP makes one inside each
// route (one allocation for both), started when the request came in.
type timingWriter struct {
	http.ResponseWriter
	start time.Time
	done  bool
	// value backs the header's value slice when the instance sent none.
	value [1]string
}

// Unwrap lets http.ResponseController reach the client's ResponseWriter.
func (w *timingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// WriteHeader adds the entry before the final status goes out (1xx
// informational headers go out without it).
func (w *timingWriter) WriteHeader(code int) {
	if !w.done && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.done = true
		appendServerTiming(w.Header(), time.Since(w.start), &w.value)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Flush sends what was written so far (the headers first, with the lb's
// entry): the fast path flushes a streamed answer through it.
func (w *timingWriter) Flush() {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Write writes the headers first (status 200) when WriteHeader was not
// called, as net/http does.
func (w *timingWriter) Write(p []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// appendServerTiming appends lb;dur=<ms of d> to h's Server-Timing: to
// the last value already there (the instance's), so the response carries
// one line, else as the only value, in the slice backed by spare.
func appendServerTiming(h http.Header, d time.Duration, spare *[1]string) {
	var buf [64]byte
	vs := h[ServerTimingHeader]
	b := buf[:0]
	if len(vs) > 0 {
		b = append(b, vs[len(vs)-1]...)
		if len(b) > 0 {
			b = append(b, ", "...)
		}
	}
	b = append(b, "lb;dur="...)
	b = appendMillis(b, d)
	if len(vs) > 0 {
		vs[len(vs)-1] = string(b)
		return
	}
	spare[0] = string(b)
	h[ServerTimingHeader] = spare[:]
}

// appendMillis appends d in milliseconds with three decimals, rounded to
// the nearest microsecond (strconv.AppendFloat(ms, 'f', 3) without the
// float formatting).
func appendMillis(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	us := (d + time.Microsecond/2) / time.Microsecond
	b = strconv.AppendInt(b, int64(us/1000), 10)
	frac := us % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}
