package lb

import (
	"bytes"
	"io"
	"net/http"
	"time"

	"github.com/authlab/authlab/internal/requestid"
)

// The fast path reads the common answer — what a Go server sends for a
// bodied, non-streamed response — without http.ReadResponse: parseHead
// takes a response head only when it has that shape, and then means
// exactly what ReadResponse would make of it; relayHead copies its fields
// straight into the client's response header, from one string, with no
// intermediate http.Header and no http.Response. Anything else (another
// protocol version, 1xx/204/304, HEAD, no Content-Length, chunking,
// trailers, hop-by-hop fields, a repeated Content-Length, non-canonical
// or odd bytes, a head not yet fully buffered, more than maxHeadFields
// fields) is left untouched in the buffer for http.ReadResponse. Whatever
// parseHead accepts, ReadResponse accepts with the same status, fields and
// length (FuzzParseHead); the conformance suite holds the answers to
// ReverseProxy's.

// maxHeadFields bounds the header fields parseHead takes.
const maxHeadFields = 40

// headField is one field of a parsed head: offsets of its name and its
// trimmed value in the head's bytes.
type headField struct{ k0, k1, v0, v1 int32 }

// fastHead is a response head parsed by parseHead.
type fastHead struct {
	status        int
	contentLength int64
	size          int // bytes of the status line, the fields and the blank line
	fieldsAt      int // offset of the first field
	eventStream   bool
	n             int
	fields        [maxHeadFields]headField
}

var crlf = []byte("\r\n")

// parse reports whether b (the buffered bytes of an answer) begins with a
// complete head of the common shape, and records it in h.
func (h *fastHead) parse(b []byte) bool {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return false
	}
	b = b[:end+4]
	const proto = "HTTP/1.1 "
	if len(b) < len(proto)+3+2 || string(b[:len(proto)]) != proto {
		return false
	}
	status := 0
	for _, c := range b[len(proto) : len(proto)+3] {
		if c < '0' || c > '9' {
			return false
		}
		status = status*10 + int(c-'0')
	}
	if status < 200 || status > 599 || status == http.StatusNoContent || status == http.StatusNotModified {
		return false
	}
	i := len(proto) + 3
	eol := i + bytes.Index(b[i:], crlf)
	if eol > i {
		if b[i] != ' ' || !textBytes(b[i+1:eol]) {
			return false
		}
	}
	i = eol + 2
	h.status, h.fieldsAt, h.n, h.contentLength, h.eventStream = status, i, 0, -1, false
	for i < len(b)-2 { // up to the blank line
		eol := i + bytes.Index(b[i:], crlf)
		line := b[i:eol]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !canonicalToken(line[:colon]) {
			return false
		}
		v0, v1 := colon+1, len(line)
		for v0 < v1 && (line[v0] == ' ' || line[v0] == '\t') {
			v0++
		}
		for v1 > v0 && (line[v1-1] == ' ' || line[v1-1] == '\t') {
			v1--
		}
		v := line[v0:v1]
		if !textBytes(v) {
			return false
		}
		switch string(line[:colon]) {
		case "Content-Length":
			if h.contentLength >= 0 {
				return false // repeated: ReadResponse's rules apply
			}
			n, ok := parseLength(v)
			if !ok {
				return false
			}
			h.contentLength = n
		case "Content-Type":
			h.eventStream = eventStreamBytes(v)
		case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
			"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
			return false
		}
		if h.n == maxHeadFields {
			return false
		}
		h.fields[h.n] = headField{int32(i), int32(i + colon), int32(i + v0), int32(i + v1)}
		h.n++
		i = eol + 2
	}
	if h.contentLength < 0 {
		return false
	}
	h.size = len(b)
	return true
}

// textBytes reports whether b holds only visible ASCII, spaces and tabs.
func textBytes(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c > '~' {
			return false
		}
	}
	return true
}

// canonicalToken reports whether k is a non-empty token (RFC 9110 §5.6.2)
// already in textproto's canonical form: every letter upper case at the
// start and after '-', lower case elsewhere.
func canonicalToken(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	upper := true
	for _, c := range k {
		switch {
		case 'a' <= c && c <= 'z':
			if upper {
				return false
			}
		case 'A' <= c && c <= 'Z':
			if !upper {
				return false
			}
		case '0' <= c && c <= '9':
		case c == '-':
		default:
			if !bytes.ContainsRune([]byte("!#$%&'*+.^_`|~"), rune(c)) {
				return false
			}
		}
		upper = c == '-'
	}
	return true
}

// parseLength parses a Content-Length value: 1 to 18 digits, no leading
// zero but for "0".
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 || (v[0] == '0' && len(v) > 1) {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// eventStreamBytes is eventStream for a value in bytes.
func eventStreamBytes(v []byte) bool {
	const es = "text/event-stream"
	if i := bytes.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	v = bytes.TrimRight(v, " \t")
	return len(v) == len(es) && bytes.EqualFold(v, []byte(es))
}

// relayHead relays the answer whose head parse recorded in c.head (still
// in c's buffer) to rt's client, as relay does for a parsed response,
// then returns c to the pool when it can carry another request.
func (f *fastForwarder) relayHead(rt *route, c *upConn) {
	h := &c.head
	in := f.in
	in.served.Add(1)
	in.countStatus(h.status)
	ok := false
	defer func() {
		if !ok {
			f.discard(c)
		}
	}()
	buf, _ := c.br.Peek(c.br.Buffered()) // what parse saw, and maybe more
	if rt.relayWhole(h, buf) {
		ok = true
		_, _ = c.br.Discard(h.size + int(h.contentLength))
		f.release(c)
		return
	}
	// One string backs every name and value.
	s := string(buf[h.fieldsAt:h.size])
	vals := make([]string, h.n)
	dst := rt.Header()
	for j, fl := range h.fields[:h.n] {
		k := s[int(fl.k0)-h.fieldsAt : int(fl.k1)-h.fieldsAt]
		if k == requestid.Header {
			continue // the lb's own is on the response (as relay)
		}
		vals[j] = s[int(fl.v0)-h.fieldsAt : int(fl.v1)-h.fieldsAt]
		if old, has := dst[k]; has {
			dst[k] = append(old, vals[j])
		} else {
			dst[k] = vals[j : j+1 : j+1]
		}
	}
	var flusher http.Flusher
	if h.eventStream {
		flusher, _ = rt.ResponseWriter.(http.Flusher)
	}
	cl := h.contentLength
	if int64(len(buf)-h.size) >= cl {
		// The whole body is buffered: written from the buffer as it is.
		rt.WriteHeader(h.status)
		if flusher != nil {
			flusher.Flush() // as copyBody
		}
		if cl > 0 {
			if _, err := rt.Write(buf[h.size : h.size+int(cl)]); err != nil {
				panic(http.ErrAbortHandler)
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		_, _ = c.br.Discard(h.size + int(cl))
	} else {
		// The body is still to come: the response header timeout no
		// longer applies (as with Transport, none bounds the body).
		if err := c.nc.SetReadDeadline(time.Time{}); err != nil {
			rt.err = err
			return
		}
		c.deadline = time.Time{}
		_, _ = c.br.Discard(h.size)
		rt.WriteHeader(h.status)
		if flusher != nil {
			flusher.Flush()
		}
		if err := f.copyN(rt, c.br, cl, flusher); err != nil {
			panic(http.ErrAbortHandler) // as relay: a short body, the client's answer cut
		}
	}
	ok = true
	f.release(c)
}

// release returns c, its answer read to the end, to the pool, or closes
// it when bytes the instance should not have sent follow that answer.
func (f *fastForwarder) release(c *upConn) {
	if c.br.Buffered() == 0 {
		f.put(c)
		return
	}
	f.discard(c)
}

// copyN copies exactly n bytes from r to w through a pooled buffer,
// flushing after every write when flusher is not nil; fewer is
// io.ErrUnexpectedEOF.
func (f *fastForwarder) copyN(w io.Writer, r io.Reader, n int64, flusher http.Flusher) error {
	bp := f.bufs.Get().(*[]byte)
	defer f.bufs.Put(bp)
	buf := *bp
	for n > 0 {
		b := buf
		if int64(len(b)) > n {
			b = b[:n]
		}
		m, rerr := r.Read(b)
		if m > 0 {
			n -= int64(m)
			if _, werr := w.Write(b[:m]); werr != nil {
				return werr
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if rerr != nil && n > 0 {
			if rerr == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return rerr
		}
	}
	return nil
}

// relayWhole writes the answer parsed in h, its body whole in buf, to
// the client as its head's bytes, when the client's ResponseWriter is the
// fast serve loop's (fastResponse.relayCommon): no header map is built
// for it. It reports false, having written nothing, when the answer or
// the response so far needs the general path.
func (rt *route) relayWhole(h *fastHead, buf []byte) bool {
	if h.eventStream || int64(len(buf)-h.size) < h.contentLength || rt.ResponseWriter != &rt.timing || rt.timing.done {
		return false
	}
	w, ok := rt.timing.ResponseWriter.(*fastResponse)
	if !ok || !w.relayCommon(h, buf, time.Since(rt.timing.start)) {
		return false
	}
	rt.timing.done = true
	return true
}
