package lb

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
)

// The strict request-head parser of the fast serve loop (fastserve.go).
// It takes only the plain shape of request and leaves everything else —
// and everything it is not sure about — to net/http: HTTP/1.1; GET or
// HEAD; an origin-form target of visible ASCII without '#'; CRLF line
// ends; header names that are tokens, values of visible ASCII, space and
// tab; no obs-fold; exactly one Host of plain host characters; no
// Content-Length but a single "Content-Length: 0"; no Transfer-Encoding,
// Expect, Upgrade or Pragma (net/http rewrites Pragma: no-cache); at most
// one Connection, "keep-alive" or "close". What it takes, http.ReadRequest
// (and net/http's server checks after it) parse to the same request:
// FuzzParseRequestHead checks it.

// headVerdict is what parseRequestHead made of the bytes buffered so far.
type headVerdict int

const (
	headMore     headVerdict = iota // no end of head yet, nothing unusual so far
	headHandOver                    // not the plain shape: net/http's to parse
	headOK                          // parsed
)

// reqHead is a request head the strict parser took.
type reqHead struct {
	method string // http.MethodGet or http.MethodHead
	target string // the request target, as sent
	url    *url.URL
	host   string
	close  bool // Connection: close
	header http.Header
	size   int // bytes of the head, its final CRLF included
}

// maxFastFields bounds the header fields of a head the parser takes.
const maxFastFields = 64

// parseRequestHead parses the request head at the start of b. It returns
// headMore when b holds no complete head yet (and nothing that rules the
// plain shape out), headHandOver when the head is not of the plain shape,
// and headOK with h filled in. A header map already in h (the previous
// request's: its handler has returned) is cleared and reused.
func parseRequestHead(b []byte, h *reqHead) headVerdict {
	// The request line.
	var method string
	switch {
	case bytes.HasPrefix(b, []byte("GET ")):
		method = http.MethodGet
	case bytes.HasPrefix(b, []byte("HEAD ")):
		method = http.MethodHead
	default:
		if len(b) < 5 && (bytes.HasPrefix([]byte("GET "), b) || bytes.HasPrefix([]byte("HEAD "), b)) {
			return headMore
		}
		return headHandOver
	}
	i := len(method) + 1
	t0 := i
	for ; i < len(b) && b[i] != ' '; i++ {
		if !targetByte(b[i]) {
			return headHandOver
		}
	}
	if i == len(b) {
		return headMore
	}
	if i == t0 || b[t0] != '/' {
		return headHandOver // empty, asterisk, absolute or authority form
	}
	t1 := i
	const proto = " HTTP/1.1\r\n"
	rest := b[i:]
	if len(rest) < len(proto) {
		if !bytes.HasPrefix([]byte(proto), rest) {
			return headHandOver
		}
		return headMore
	}
	if string(rest[:len(proto)]) != proto {
		return headHandOver
	}
	i += len(proto)
	fieldsAt := i

	// The header fields: validated and counted first.
	var fields [maxFastFields]struct{ k0, k1, v0, v1 int }
	n, hosts, hostAt := 0, 0, -1
	closeConn, conns, lengths := false, 0, 0
	for {
		if i == len(b) {
			return headMore
		}
		if b[i] == '\r' {
			if i+1 == len(b) {
				return headMore
			}
			if b[i+1] != '\n' {
				return headHandOver
			}
			i += 2
			break
		}
		k0 := i
		for ; i < len(b) && tokenByte(b[i]); i++ {
		}
		if i == len(b) {
			return headMore
		}
		if i == k0 || b[i] != ':' {
			return headHandOver // obs-fold, space before the colon, bad name
		}
		k1 := i
		i++
		for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
			i++
		}
		v0 := i
		for ; i < len(b) && fieldByte(b[i]); i++ {
		}
		if i == len(b) {
			return headMore
		}
		if b[i] != '\r' {
			return headHandOver // a bare LF, a control byte, obs-text
		}
		if i+1 == len(b) {
			return headMore
		}
		if b[i+1] != '\n' {
			return headHandOver
		}
		v1 := i
		for v1 > v0 && (b[v1-1] == ' ' || b[v1-1] == '\t') {
			v1--
		}
		i += 2
		if n == maxFastFields {
			return headHandOver
		}
		name, value := b[k0:k1], b[v0:v1]
		switch {
		case asciiEqualFold(name, "Host"):
			hosts++
			if hosts > 1 || !plainHost(value) {
				return headHandOver
			}
			hostAt = n
		case asciiEqualFold(name, "Content-Length"):
			lengths++
			if lengths > 1 || string(value) != "0" {
				return headHandOver
			}
		case asciiEqualFold(name, "Connection"):
			conns++
			switch {
			case conns > 1:
				return headHandOver
			case asciiEqualFold(value, "close"):
				closeConn = true
			case !asciiEqualFold(value, "keep-alive"):
				return headHandOver
			}
		case asciiEqualFold(name, "Transfer-Encoding"), asciiEqualFold(name, "Expect"),
			asciiEqualFold(name, "Upgrade"), asciiEqualFold(name, "Pragma"):
			return headHandOver
		}
		fields[n] = struct{ k0, k1, v0, v1 int }{k0, k1, v0, v1}
		n++
	}
	if hosts != 1 {
		return headHandOver
	}

	// The target: the common shape built here, any other left to
	// url.ParseRequestURI (as net/http parses it).
	target := string(b[t0:t1])
	u, ok := plainURL(target)
	if !ok {
		var err error
		if u, err = url.ParseRequestURI(target); err != nil {
			return headHandOver
		}
	}

	// One string backs every name that is not a common one, and every value.
	s := string(b[fieldsAt:i])
	vals := make([]string, n)
	hdr := h.header // the previous request's map, reused (its buckets kept)
	if hdr == nil {
		hdr = make(http.Header, n)
	} else {
		clear(hdr)
	}
	var kb [64]byte
	for j, f := range fields[:n] {
		k := canonicalKey(b[f.k0:f.k1], &kb)
		if k == "" {
			k = http.CanonicalHeaderKey(s[f.k0-fieldsAt : f.k1-fieldsAt])
		}
		vals[j] = s[f.v0-fieldsAt : f.v1-fieldsAt]
		if j == hostAt {
			continue // net/http's server takes Host out of the header
		}
		if old, has := hdr[k]; has {
			hdr[k] = append(old, vals[j])
		} else {
			hdr[k] = vals[j : j+1 : j+1]
		}
	}
	*h = reqHead{method: method, target: target, url: u, host: vals[hostAt], close: closeConn, header: hdr, size: i}
	return headOK
}

// plainURL builds the URL of a target whose path needs no unescaping and
// is its own escaped form (url.URL.RawPath stays empty), as
// url.ParseRequestURI would; ok is false for any other target.
func plainURL(t string) (*url.URL, bool) {
	p, q, hasQ := strings.Cut(t, "?")
	for i := 0; i < len(p); i++ {
		if !plainPathByte(p[i]) {
			return nil, false
		}
	}
	if strings.IndexByte(q, '#') >= 0 {
		return nil, false
	}
	u := &url.URL{Path: p}
	if hasQ {
		if q == "" {
			u.ForceQuery = true
		} else {
			u.RawQuery = q
		}
	}
	return u, true
}

// plainPathByte: the bytes url.URL keeps unescaped in a path.
func plainPathByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-_.~$&+,/:;=@", c) >= 0
}

// targetByte: the bytes of a request target the parser takes: visible
// ASCII but those RFC 3986 never allows unescaped.
func targetByte(c byte) bool {
	return c > ' ' && c < 0x7f && strings.IndexByte("\"<>\\^`{|}", c) < 0
}

// tokenByte: RFC 9110 tchar.
func tokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// fieldByte: the bytes of a header value the parser takes (no obs-text).
func fieldByte(c byte) bool { return (c >= ' ' && c < 0x7f) || c == '\t' }

// plainHost: a non-empty Host of letters, digits and . - : [ ] _.
func plainHost(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_':
		default:
			return false
		}
	}
	return true
}

// asciiEqualFold reports whether b equals s, ASCII letters folded.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// commonKeys interns the canonical names of the usual request headers.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Connection", "Content-Length", "Content-Type", "Cookie",
		"Host", "If-Modified-Since", "If-None-Match", "Origin", "Referer", "Te",
		"User-Agent", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
		"X-Request-Id", "X-Real-Ip", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-Dest",
	} {
		m[k] = k
	}
	return m
}()

// canonicalKey is the canonical form of token k (textproto's rule) when it
// is a common header name; "" otherwise.
func canonicalKey(k []byte, buf *[64]byte) string {
	if len(k) > len(buf) {
		return ""
	}
	c := buf[:len(k)]
	upper := true
	for i, x := range k {
		switch {
		case upper && 'a' <= x && x <= 'z':
			x -= 'a' - 'A'
		case !upper && 'A' <= x && x <= 'Z':
			x += 'a' - 'A'
		}
		c[i] = x
		upper = x == '-'
	}
	return commonKeys[string(c)]
}
