package backend

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/assertion"
	"github.com/authlab/authlab/internal/requestid"
)

// TestRequestIDLogged: the backend keeps the gateway's X-Request-Id, echoes
// it, and every log line about the request carries it; an unusable id is
// replaced.
func TestRequestIDLogged(t *testing.T) {
	var logs bytes.Buffer
	now := time.Unix(1_800_000_000, 0)
	h, err := New(Config{AssertionKey: testKey, Now: func() time.Time { return now }},
		slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	is, _ := assertion.NewIssuer(testKey, assertion.DefaultTTL, func() time.Time { return now })
	tok, _ := is.Issue(userP)

	for _, tt := range []struct {
		name, id, assertion string
		status              int
		logLines            int // lines about the request
	}{
		{"served", "rid-served-1", tok, 200, 1},
		{"rejected", "rid-rejected-2", "forged", 401, 2}, // "assertion rejected" and "request"
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			req := httptest.NewRequest("GET", "/api/me", nil)
			req.Header.Set(requestid.Header, tt.id)
			req.Header.Set(assertion.Header, tt.assertion)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status || rec.Header().Get(requestid.Header) != tt.id {
				t.Fatalf("%d, X-Request-Id %q; want %d, %q", rec.Code, rec.Header().Get(requestid.Header), tt.status, tt.id)
			}
			n := 0
			for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("log line %q: %v", l, err)
				}
				if m["request_id"] != tt.id {
					t.Fatalf("log line without the request id: %s", l)
				}
				n++
			}
			if n != tt.logLines {
				t.Fatalf("%d log lines, want %d:\n%s", n, tt.logLines, logs.String())
			}
		})
	}

	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set(requestid.Header, "bad id\nforged log line")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get(requestid.Header); !requestid.Valid(got) || strings.Contains(got, "forged") {
		t.Fatalf("unusable request id not replaced: %q", got)
	}
}
