package lb

import (
	"bufio"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/authlab/authlab/internal/requestid"
)

// fastResponse is the fast serve loop's http.ResponseWriter. It frames
// what the handler writes exactly as net/http's server does for an
// HTTP/1.1 request without a body (net/http/server.go: response,
// chunkWriter; the comments name their counterparts): the headers
// snapshotted at WriteHeader; an explicit Content-Length kept; else a
// Content-Length when the handler finished before anything was flushed,
// chunked otherwise; a sniffed Content-Type; a Date; 1xx answers written
// at once; no body for HEAD, 1xx, 204, 304; trailers; Connection: close
// when either side asked for it or the server shuts down.
type fastResponse struct {
	c   *serveConn
	req *http.Request

	handlerHeader http.Header
	snap          http.Header // cw.header: handlerHeader as of WriteHeader
	calledHeader  bool
	wroteHeader   bool
	status        int
	contentLength int64 // -1: unknown
	written       int64
	handlerDone   bool
	isHead        bool
	wantsClose    bool

	closeAfterReply bool
	trailers        []string

	dateBuf   [len(http.TimeFormat)]byte
	clenBuf   [10]byte
	statusBuf [3]byte
}

// bufferBeforeChunking is net/http's bufferBeforeChunkingSize.
const bufferBeforeChunking = 2048

// fastChunkWriter is net/http's chunkWriter: it writes the headers before
// the first bytes and frames the body.
type fastChunkWriter struct {
	res         *fastResponse
	wroteHeader bool
	chunking    bool
}

// Header is response.Header.
func (w *fastResponse) Header() http.Header {
	if w.snap == nil && w.wroteHeader && !w.c.cw.wroteHeader {
		w.snap = w.snapshot()
	}
	w.calledHeader = true
	return w.handlerHeader
}

// snapshot is handlerHeader.Clone() into maps the connection reuses from
// one response to the next (no allocation once they have grown).
func (w *fastResponse) snapshot() http.Header {
	c := w.c
	if c.snapHeader == nil {
		c.snapHeader = make(http.Header, len(w.handlerHeader))
	} else {
		clear(c.snapHeader)
	}
	vals := c.snapVals[:0]
	for k, vv := range w.handlerHeader {
		if vv == nil {
			c.snapHeader[k] = nil // as Clone: a nil value stays nil
			continue
		}
		vals = append(vals, vv...)
		c.snapHeader[k] = vals[len(vals)-len(vv) : len(vals) : len(vals)]
	}
	c.snapVals = vals
	return c.snapHeader
}

// WriteHeader is response.WriteHeader.
func (w *fastResponse) WriteHeader(code int) {
	if w.wroteHeader {
		w.c.fs.log.Debug("http: superfluous response.WriteHeader call", "code", code)
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	bufw := w.c.bufw
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		writeStatusLine(bufw, code, w.statusBuf[:])
		_ = w.handlerHeader.WriteSubset(bufw, excludedNoBody)
		_, _ = bufw.WriteString("\r\n")
		_ = bufw.Flush()
		return
	}
	w.wroteHeader = true
	w.status = code
	if w.calledHeader && w.snap == nil {
		w.snap = w.snapshot()
	}
	if cl := hget(w.handlerHeader, "Content-Length"); cl != "" {
		v, err := strconv.ParseInt(cl, 10, 64)
		if err == nil && v >= 0 {
			w.contentLength = v
		} else {
			w.c.fs.log.Debug("http: invalid Content-Length", "value", cl)
			w.handlerHeader.Del("Content-Length")
		}
	}
}

// Write is response.Write.
func (w *fastResponse) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if w.contentLength != -1 && w.written > w.contentLength {
		return 0, http.ErrContentLength
	}
	return w.c.bw.Write(p)
}

// WriteString is response.WriteString.
func (w *fastResponse) WriteString(s string) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(s) == 0 {
		return 0, nil
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(s))
	if w.contentLength != -1 && w.written > w.contentLength {
		return 0, http.ErrContentLength
	}
	return w.c.bw.WriteString(s)
}

// Flush is response.Flush.
func (w *fastResponse) Flush() { _ = w.FlushError() }

// FlushError is response.FlushError (http.ResponseController uses it).
func (w *fastResponse) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	err := w.c.bw.Flush()
	e2 := w.c.cw.flush()
	if err == nil {
		err = e2
	}
	return err
}

// finishRequest is response.finishRequest.
func (w *fastResponse) finishRequest() {
	w.handlerDone = true
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	_ = w.c.bw.Flush()
	w.c.cw.close()
	_ = w.c.bufw.Flush()
}

// shouldReuseConnection is response.shouldReuseConnection.
func (w *fastResponse) shouldReuseConnection() bool {
	if w.closeAfterReply {
		return false
	}
	if !w.isHead && w.contentLength != -1 && bodyAllowedForStatus(w.status) && w.contentLength != w.written {
		return false
	}
	return w.c.werr == nil
}

// finalTrailers is response.finalTrailers.
func (w *fastResponse) finalTrailers() http.Header {
	var t http.Header
	for k, vv := range w.handlerHeader {
		if kk, found := strings.CutPrefix(k, http.TrailerPrefix); found {
			if t == nil {
				t = make(http.Header)
			}
			t[kk] = vv
		}
	}
	for _, k := range w.trailers {
		if t == nil {
			t = make(http.Header)
		}
		for _, v := range w.handlerHeader[k] {
			t.Add(k, v)
		}
	}
	return t
}

// declareTrailer is response.declareTrailer.
func (w *fastResponse) declareTrailer(k string) {
	k = http.CanonicalHeaderKey(k)
	if !httpguts.ValidTrailerHeader(k) {
		return
	}
	w.trailers = append(w.trailers, k)
}

// Write is chunkWriter.Write.
func (cw *fastChunkWriter) Write(p []byte) (n int, err error) {
	if !cw.wroteHeader {
		cw.writeHeader(p)
	}
	if cw.res.isHead {
		return len(p), nil // eat writes
	}
	bufw := cw.res.c.bufw
	if cw.chunking {
		var hex [20]byte
		b := strconv.AppendInt(hex[:0], int64(len(p)), 16)
		b = append(b, '\r', '\n')
		if _, err = bufw.Write(b); err != nil {
			_ = cw.res.c.nc.Close()
			return 0, err
		}
	}
	n, err = bufw.Write(p)
	if cw.chunking && err == nil {
		_, err = bufw.WriteString("\r\n")
	}
	if err != nil {
		_ = cw.res.c.nc.Close()
	}
	return n, err
}

// flush is chunkWriter.flush.
func (cw *fastChunkWriter) flush() error {
	if !cw.wroteHeader {
		cw.writeHeader(nil)
	}
	return cw.res.c.bufw.Flush()
}

// close is chunkWriter.close.
func (cw *fastChunkWriter) close() {
	if !cw.wroteHeader {
		cw.writeHeader(nil)
	}
	if cw.chunking {
		bw := cw.res.c.bufw
		_, _ = bw.WriteString("0\r\n")
		if trailers := cw.res.finalTrailers(); trailers != nil {
			_ = trailers.Write(bw)
		}
		_, _ = bw.WriteString("\r\n")
	}
}

// reset readies cw for the next response.
func (cw *fastChunkWriter) reset(res *fastResponse) {
	*cw = fastChunkWriter{res: res}
}

// writeHeader is chunkWriter.writeHeader for an HTTP/1.1 request without
// a body: p is the first body bytes (or all of them once the handler is
// done).
func (cw *fastChunkWriter) writeHeader(p []byte) {
	if cw.wroteHeader {
		return
	}
	cw.wroteHeader = true
	w := cw.res
	keepAlivesEnabled := !w.c.fs.shutting.Load()
	isHEAD := w.isHead

	header := w.snap
	owned := header != nil
	if !owned {
		header = w.handlerHeader
	}
	var excludeHeader map[string]bool
	delHeader := func(key string) {
		if owned {
			header.Del(key)
			return
		}
		if _, ok := header[key]; !ok {
			return
		}
		if excludeHeader == nil {
			excludeHeader = make(map[string]bool)
		}
		excludeHeader[key] = true
	}
	var setHeader extraHeader

	trailers := false
	for k := range w.snap {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			if excludeHeader == nil {
				excludeHeader = make(map[string]bool)
			}
			excludeHeader[k] = true
			trailers = true
		}
	}
	for _, v := range w.snap["Trailer"] {
		trailers = true
		foreachHeaderElement(v, w.declareTrailer)
	}

	te := hget(header, "Transfer-Encoding")
	hasTE := te != ""

	if w.handlerDone && !trailers && !hasTE && bodyAllowedForStatus(w.status) && !hhas(header, "Content-Length") && (!isHEAD || len(p) > 0) {
		w.contentLength = int64(len(p))
		setHeader.contentLength = strconv.AppendInt(w.clenBuf[:0], int64(len(p)), 10)
	}

	hasCL := w.contentLength != -1

	if w.wantsClose {
		w.closeAfterReply = true
	}
	if hget(header, "Connection") == "close" || !keepAlivesEnabled {
		w.closeAfterReply = true
	}

	code := w.status
	if bodyAllowedForStatus(code) {
		_, haveType := header["Content-Type"]
		hasCE := len(header.Get("Content-Encoding")) > 0
		if !hasCE && !haveType && !hasTE && len(p) > 0 {
			setHeader.contentType = http.DetectContentType(p)
		}
	} else {
		for _, k := range suppressedHeaders(code) {
			delHeader(k)
		}
	}

	if !hhas(header, "Date") {
		setHeader.date = w.c.date(w.dateBuf[:0])
	}

	if hasCL && hasTE && te != "identity" {
		w.c.fs.log.Debug("http: WriteHeader called with both Transfer-Encoding and a Content-Length",
			"transfer_encoding", te, "content_length", w.contentLength)
		delHeader("Content-Length")
		hasCL = false
	}

	switch {
	case isHEAD || !bodyAllowedForStatus(code) || code == http.StatusNoContent:
		delHeader("Transfer-Encoding")
	case hasCL:
		delHeader("Transfer-Encoding")
	case hasTE && te == "identity":
		cw.chunking = false
		w.closeAfterReply = true
		delHeader("Transfer-Encoding")
	default:
		cw.chunking = true
		setHeader.transferEncoding = "chunked"
		if hasTE && te == "chunked" {
			delHeader("Transfer-Encoding")
		}
	}
	if cw.chunking {
		delHeader("Content-Length")
	}

	delConnectionHeader := w.closeAfterReply &&
		(!keepAlivesEnabled || !hasToken(hget(w.snap, "Connection"), "close")) &&
		!isProtocolSwitchResponse(w.status, header)
	if delConnectionHeader {
		delHeader("Connection")
		setHeader.connection = "close"
	}

	bufw := w.c.bufw
	writeStatusLine(bufw, code, w.statusBuf[:])
	_ = w.snap.WriteSubset(bufw, excludeHeader)
	setHeader.write(bufw)
	_, _ = bufw.WriteString("\r\n")
}

// relayCommon writes a relayed answer of the common shape (fastHead.parse:
// canonical names, no hop-by-hop field, a Content-Length; its body whole
// in buf) as one head and body, without building its header map: the
// status line; the handler's own fields (the request id, a pin cookie);
// the instance's fields as they came, but for its X-Request-Id (the lb's
// is the answer's, as relayHead does), with the lb's Server-Timing entry
// added to the last Server-Timing value, or on its own line; a Date when
// the instance sent none; Connection: close when the connection ends.
// That is the answer net/http frames from the same fields (the order of
// the lines aside: net/http sorts them by name, and fields of one name
// keep their order either way). It reports false, having written
// nothing, when anything asks for net/http's decisions: a header written
// already, handler fields that framing reads (Content-Type, Date,
// Content-Length, Connection, Transfer-Encoding, Trailer, Server-Timing)
// or that are not plain text, or a body without a Content-Type (net/http
// sniffs one).
func (w *fastResponse) relayCommon(h *fastHead, buf []byte, lbDur time.Duration) bool {
	if w.wroteHeader || w.c.cw.wroteHeader || w.isHead {
		return false
	}
	for k, vv := range w.handlerHeader {
		switch k {
		case "Content-Type", "Date", "Content-Length", "Connection", "Transfer-Encoding", "Trailer", ServerTimingHeader:
			return false
		}
		if strings.HasPrefix(k, http.TrailerPrefix) || !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) || strings.TrimSpace(v) != v {
				return false
			}
		}
	}
	fields := h.fields[:h.n]
	haveType, haveDate, lastTiming := false, false, -1
	for j, f := range fields {
		switch string(buf[f.k0:f.k1]) {
		case "Content-Type":
			haveType = true
		case "Date":
			haveDate = true
		case ServerTimingHeader:
			lastTiming = j
		}
	}
	body := buf[h.size : h.size+int(h.contentLength)]
	if !haveType && len(body) > 0 {
		return false
	}
	w.wroteHeader, w.c.cw.wroteHeader = true, true
	w.status, w.contentLength, w.written = h.status, h.contentLength, h.contentLength
	w.closeAfterReply = w.wantsClose || w.c.fs.shutting.Load()

	bw := w.c.bufw
	writeStatusLine(bw, h.status, w.statusBuf[:])
	for k, vv := range w.handlerHeader {
		for _, v := range vv {
			writeHeader(bw, k, v)
		}
	}
	var timing [32]byte
	entry := appendMillis(append(timing[:0], "lb;dur="...), lbDur)
	for j, f := range fields {
		k := buf[f.k0:f.k1]
		if string(k) == requestid.Header {
			continue
		}
		_, _ = bw.Write(k)
		_, _ = bw.WriteString(": ")
		_, _ = bw.Write(buf[f.v0:f.v1])
		if j == lastTiming {
			if f.v1 > f.v0 {
				_, _ = bw.WriteString(", ")
			}
			_, _ = bw.Write(entry)
		}
		_, _ = bw.WriteString("\r\n")
	}
	if lastTiming < 0 {
		_, _ = bw.WriteString(ServerTimingHeader + ": ")
		_, _ = bw.Write(entry)
		_, _ = bw.WriteString("\r\n")
	}
	if !haveDate {
		_, _ = bw.WriteString("Date: ")
		_, _ = bw.Write(w.c.date(w.dateBuf[:0]))
		_, _ = bw.WriteString("\r\n")
	}
	if w.closeAfterReply {
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, _ = bw.WriteString("\r\n")
	if _, err := bw.Write(body); err != nil {
		_ = w.c.nc.Close()
	}
	return true
}

// date is the Date header's value for now, formatted once a second per
// connection.
func (c *serveConn) date(buf []byte) []byte {
	now := time.Now()
	if sec := now.Unix(); sec != c.dateSec || c.dateLen == 0 {
		c.dateSec = sec
		c.dateLen = len(now.UTC().AppendFormat(c.dateVal[:0], http.TimeFormat))
	}
	return append(buf, c.dateVal[:c.dateLen]...)
}

// extraHeader is net/http's extraHeader.
type extraHeader struct {
	contentType      string
	connection       string
	transferEncoding string
	date             []byte
	contentLength    []byte
}

func (h extraHeader) write(w *bufio.Writer) {
	if h.date != nil {
		_, _ = w.WriteString("Date: ")
		_, _ = w.Write(h.date)
		_, _ = w.WriteString("\r\n")
	}
	if h.contentLength != nil {
		_, _ = w.WriteString("Content-Length: ")
		_, _ = w.Write(h.contentLength)
		_, _ = w.WriteString("\r\n")
	}
	for i, v := range [...]string{h.contentType, h.connection, h.transferEncoding} {
		if v != "" {
			_, _ = w.WriteString([...]string{"Content-Type", "Connection", "Transfer-Encoding"}[i])
			_, _ = w.WriteString(": ")
			_, _ = w.WriteString(v)
			_, _ = w.WriteString("\r\n")
		}
	}
}

// writeStatusLine is net/http's writeStatusLine for HTTP/1.1.
func writeStatusLine(bw *bufio.Writer, code int, scratch []byte) {
	_, _ = bw.WriteString("HTTP/1.1 ")
	if text := http.StatusText(code); text != "" {
		_, _ = bw.Write(strconv.AppendInt(scratch[:0], int64(code), 10))
		_ = bw.WriteByte(' ')
		_, _ = bw.WriteString(text)
		_, _ = bw.WriteString("\r\n")
	} else {
		fmt.Fprintf(bw, "%03d status code %d\r\n", code, code)
	}
}

// excludedNoBody is net/http's excludedHeadersNoBody.
var excludedNoBody = map[string]bool{"Content-Length": true, "Transfer-Encoding": true}

// bodyAllowedForStatus is net/http's.
func bodyAllowedForStatus(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == 204:
		return false
	case status == 304:
		return false
	}
	return true
}

// suppressedHeaders is net/http's.
func suppressedHeaders(status int) []string {
	switch {
	case status == 304:
		return []string{"Content-Type", "Content-Length", "Transfer-Encoding"}
	case !bodyAllowedForStatus(status):
		return []string{"Content-Length", "Transfer-Encoding"}
	}
	return nil
}

// hget is Header.get: the first value of canonical key k.
func hget(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// hhas is Header.has.
func hhas(h http.Header, k string) bool {
	_, ok := h[k]
	return ok
}

// foreachHeaderElement is net/http's.
func foreachHeaderElement(v string, fn func(string)) {
	v = textproto.TrimString(v)
	if v == "" {
		return
	}
	if !strings.Contains(v, ",") {
		fn(v)
		return
	}
	for f := range strings.SplitSeq(v, ",") {
		if f = textproto.TrimString(f); f != "" {
			fn(f)
		}
	}
}

// isProtocolSwitchResponse is net/http's.
func isProtocolSwitchResponse(code int, h http.Header) bool {
	return code == http.StatusSwitchingProtocols && h.Get("Upgrade") != "" && httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade")
}

// hasToken is net/http's hasToken: whether token appears in v on token
// boundaries, ASCII case folded.
func hasToken(v, token string) bool {
	if len(token) > len(v) || token == "" {
		return false
	}
	if v == token {
		return true
	}
	for sp := 0; sp <= len(v)-len(token); sp++ {
		if b := v[sp]; b != token[0] && b|0x20 != token[0] {
			continue
		}
		if sp > 0 && !isTokenBoundary(v[sp-1]) {
			continue
		}
		if endPos := sp + len(token); endPos != len(v) && !isTokenBoundary(v[endPos]) {
			continue
		}
		if asciiEqualFold([]byte(v[sp:sp+len(token)]), token) {
			return true
		}
	}
	return false
}

func isTokenBoundary(b byte) bool {
	return b == ' ' || b == ',' || b == '\t'
}
