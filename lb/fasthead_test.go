package lb

import (
	"bufio"
	"bytes"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestParseHead: which heads the fast path's own parser takes (the rest
// go to http.ReadResponse), and what it reads of one it takes.
func TestParseHead(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(rawResponses)) {
		raw, _, _ := strings.Cut(rawResponses[name], "|")
		var h fastHead
		got := h.parse([]byte(raw))
		want := map[string]bool{
			"common": true, "no reason": true, "value spaces": true, "odd status": true,
			"body split": true, "short body": true, "bytes after": true, "event stream": true,
			"server timing": true, "empty server timing": true, "no type": true,
		}[name]
		if got != want {
			t.Errorf("%s: parse = %v, want %v", name, got, want)
		}
	}
	// A gateway's answer (what bench-lb relays).
	gw := "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nServer-Timing: gw;dur=0.123\r\n" +
		"X-Authlab-Instance: gw1\r\nX-Request-Id: abc\r\nDate: Mon, 07 Dec 2026 05:00:00 GMT\r\nContent-Length: 27\r\n\r\n" +
		`{"status":"ok","x":"gw1"}` + "\n\n"
	var h fastHead
	if !h.parse([]byte(gw)) {
		t.Fatal("a gateway's answer is not taken")
	}
	if h.status != 200 || h.contentLength != 27 || h.n != 6 || h.eventStream || h.size != len(gw)-27 {
		t.Errorf("parsed %+v", h)
	}
	for _, tt := range []struct {
		ct   string
		want bool
	}{{"text/event-stream", true}, {"Text/Event-Stream ; charset=utf-8", true}, {"text/event-streams", false}, {"text/plain", false}} {
		if got := eventStreamBytes([]byte(tt.ct)); got != tt.want || got != eventStream(tt.ct) {
			t.Errorf("eventStreamBytes(%q) = %v, eventStream %v, want %v", tt.ct, got, eventStream(tt.ct), tt.want)
		}
	}
}

// FuzzParseHead: whatever head parseHead takes, http.ReadResponse reads
// with the same status, fields, length and size, and keeps the
// connection; and parseHead never reads past its input.
func FuzzParseHead(f *testing.F) {
	for _, raw := range rawResponses {
		f.Add(strings.ReplaceAll(raw, "|", ""))
	}
	f.Add("HTTP/1.1 200 OK\r\nA-B: c\r\nContent-Length: 0\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		var h fastHead
		if !h.parse([]byte(raw)) {
			return
		}
		br := bufio.NewReader(strings.NewReader(raw))
		res, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatalf("parseHead took what ReadResponse refuses (%v): %q", err, raw)
		}
		if res.StatusCode != h.status || res.ContentLength != h.contentLength || res.Close ||
			res.Trailer != nil || len(res.TransferEncoding) != 0 || res.ProtoMinor != 1 {
			t.Fatalf("ReadResponse: %d CL %d close %v trailer %v TE %v 1.%d; parseHead: %d CL %d\n%q",
				res.StatusCode, res.ContentLength, res.Close, res.Trailer, res.TransferEncoding, res.ProtoMinor, h.status, h.contentLength, raw)
		}
		got := http.Header{}
		for _, fl := range h.fields[:h.n] {
			k := raw[fl.k0:fl.k1]
			got[k] = append(got[k], raw[fl.v0:fl.v1])
		}
		if !maps.EqualFunc(got, res.Header, slices.Equal) {
			t.Fatalf("fields %q, ReadResponse %q\n%q", got, res.Header, raw)
		}
		if eventStream(res.Header.Get("Content-Type")) != h.eventStream {
			t.Fatalf("event stream %v, want %v", h.eventStream, !h.eventStream)
		}
		// What ReadResponse left unread (the body and after) starts
		// where parseHead's head ends.
		rest, _ := io.ReadAll(br)
		if !bytes.Equal(rest, []byte(raw[h.size:])) {
			t.Fatalf("head size %d, ReadResponse read %d\n%q", h.size, len(raw)-len(rest), raw)
		}
	})
}
