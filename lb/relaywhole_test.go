package lb

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRelayWholeFraming reads, byte for byte, answers the fast serve loop
// relays without building their header map (fastResponse.relayCommon),
// and the ones it must leave to net/http's framing: the lb's request id
// replaces the instance's, its Server-Timing entry ends the last
// Server-Timing value (or has its own line), a Date is added only when
// the instance sent none, Connection: close follows the client's, and a
// body without a type is sniffed. Each field comes once.
func TestRelayWholeFraming(t *testing.T) {
	up := newConformanceUpstream(t)
	h := startLB(t, Config{External: []External{{Addr: up.addr()}}, Policy: RoundRobin, AdminToken: testAdminToken,
		HealthInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	addr := strings.TrimPrefix(h.base, "http://")
	tests := []struct {
		raw, conn string
		want      []string // lines of the head, in any order, each once
		body      string
	}{
		{"common", "", []string{"HTTP/1.1 200 OK", "Content-Type: application/json", "X-Multi: a", "X-Multi: b",
			"X-Request-Id: ID", "Content-Length: 2", "Server-Timing: lb;dur=D", "Date: NOW"}, "{}"},
		{"server timing", "", []string{"HTTP/1.1 200 OK", "Content-Type: text/plain", "Server-Timing: db;dur=D",
			"Server-Timing: gw;dur=D, lb;dur=D", "Date: Mon, 07 Dec 2026 09:00:00 GMT", "Content-Length: 2", "X-Request-Id: ID"}, "ok"},
		{"empty server timing", "", []string{"HTTP/1.1 200 OK", "Server-Timing: lb;dur=D", "Content-Length: 0",
			"X-Request-Id: ID", "Date: NOW"}, ""},
		{"common", "close", []string{"HTTP/1.1 200 OK", "Content-Type: application/json", "X-Multi: a", "X-Multi: b",
			"X-Request-Id: ID", "Content-Length: 2", "Server-Timing: lb;dur=D", "Date: NOW", "Connection: close"}, "{}"},
		{"no type", "", []string{"HTTP/1.1 200 OK", "Content-Type: text/html; charset=utf-8", "Content-Length: 14",
			"Server-Timing: lb;dur=D", "X-Request-Id: ID", "Date: NOW"}, "<html>hi</html"},
		{"no reason", "", []string{"HTTP/1.1 201 Created", "Content-Type: text/plain; charset=utf-8", "Content-Length: 3",
			"Server-Timing: lb;dur=D", "X-Request-Id: ID", "Date: NOW"}, "abc"},
	}
	dur := regexp.MustCompile(`dur=[0-9]+(\.[0-9]+)?`)
	for _, tt := range tests {
		t.Run(tt.raw+" "+tt.conn, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			req := "GET /raw?r=" + url.QueryEscape(tt.raw) + " HTTP/1.1\r\nHost: example.test\r\n"
			if tt.conn != "" {
				req += "Connection: " + tt.conn + "\r\n"
			}
			if _, err := io.WriteString(nc, req+"\r\n"); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(nc)
			got := map[string]int{}
			var clen string
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("head cut: %v", err)
				}
				line = strings.TrimSuffix(line, "\r\n")
				if line == "" {
					break
				}
				line = dur.ReplaceAllString(line, "dur=D")
				switch {
				case strings.HasPrefix(line, "X-Request-Id: ") && len(line) > len("X-Request-Id: ") && line != "X-Request-Id: up":
					line = "X-Request-Id: ID"
				case strings.HasPrefix(line, "Date: ") && line != "Date: Mon, 07 Dec 2026 09:00:00 GMT":
					if _, err := http.ParseTime(strings.TrimPrefix(line, "Date: ")); err == nil {
						line = "Date: NOW"
					}
				case strings.HasPrefix(line, "Content-Length: "):
					clen = strings.TrimPrefix(line, "Content-Length: ")
				}
				got[line]++
			}
			for _, w := range tt.want {
				if got[w] != 1 {
					t.Errorf("line %q: %d times, want once; head %v", w, got[w], got)
				}
				delete(got, w)
			}
			if len(got) > 0 {
				t.Errorf("unexpected lines %v", got)
			}
			body := make([]byte, len(tt.body))
			if _, err := io.ReadFull(br, body); err != nil || string(body) != tt.body || clen != "" && clen != strconv.Itoa(len(tt.body)) {
				t.Errorf("body %q (%v), Content-Length %s; want %q", body, err, clen, tt.body)
			}
		})
	}
}
