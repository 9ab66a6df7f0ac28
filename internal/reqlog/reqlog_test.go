package reqlog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/authlab/authlab/internal/requestid"
)

func TestRequestIDAdded(t *testing.T) {
	var buf bytes.Buffer
	l := Logger(slog.New(slog.NewJSONHandler(&buf, nil))).With("svc", "x")
	l.InfoContext(requestid.With(context.Background(), "rid-42"), "hello")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m[Key] != "rid-42" || m["svc"] != "x" {
		t.Fatalf("line = %v", m)
	}
	buf.Reset()
	l.Info("no context")
	m = nil
	_ = json.Unmarshal(buf.Bytes(), &m)
	if _, ok := m[Key]; ok {
		t.Fatalf("request_id without a request: %v", m)
	}
}
