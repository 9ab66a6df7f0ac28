package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

func TestOneJSONLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	a := New(&buf, "gw1")
	a.Log(context.Background(), Event{Event: Login, User: "alice", Client: "10.0.0.7", Credential: "0123456789ab", RequestID: "rid-1", Outcome: OutcomeSuccess})
	a.Log(context.Background(), Event{Event: Login, User: "bob\n{\"forged\":true}", Client: "10.0.0.8", RequestID: "rid-2", Outcome: OutcomeFailure})
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2 (a newline in a field must not split a line):\n%s", len(lines), buf.String())
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"event": "login", "user": "alice", "instance": "gw1", "client_addr": "10.0.0.7",
		"credential_fp": "0123456789ab", "request_id": "rid-1", "outcome": "success", "msg": "audit"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("%s = %v, want %v", k, first[k], v)
		}
	}
	if _, ok := second["credential_fp"]; ok {
		t.Error("empty credential fingerprint written")
	}
	if second["user"] != "bob\n{\"forged\":true}" || second["forged"] != nil {
		t.Errorf("second line = %v", second)
	}
}

func TestNilWriterDiscards(t *testing.T) {
	New(nil, "gw").Log(context.Background(), Event{Event: Logout})
}

// TestConcurrentLinesDoNotInterleave: each line is one Write.
func TestConcurrentLinesDoNotInterleave(t *testing.T) {
	var buf syncBuffer
	a := New(&buf, "gw")
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.Log(context.Background(), Event{Event: Refresh, User: strings.Repeat("u", i*20), Outcome: OutcomeSuccess})
		}()
	}
	wg.Wait()
	for i, l := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		if !json.Valid([]byte(l)) {
			t.Fatalf("line %d is not JSON: %q", i, l)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
