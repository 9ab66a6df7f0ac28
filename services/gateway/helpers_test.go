package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
)

// syncBuffer is a bytes.Buffer safe for concurrent use.
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

// lines parses the buffer's JSON lines.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// checkingStrategy is fakeStrategy with a store whose Check fails.
type checkingStrategy struct {
	fakeStrategy
	err error
}

func (s *checkingStrategy) Check(context.Context) error { return s.err }

// refreshingStrategy is fakeStrategy with refresh tokens: "fresh" is
// exchanged, "spent" was used already (reuse), "down" cannot be checked.
type refreshingStrategy struct{ fakeStrategy }

func (*refreshingStrategy) Capabilities() strategies.Capabilities {
	return strategies.Capabilities{Transport: strategies.TransportBearer, Authenticates: true, SharedState: true, Refreshable: true}
}

func (*refreshingStrategy) Refresh(_ context.Context, tok string) (strategies.Credential, identity.Principal, error) {
	switch tok {
	case "fresh":
		return strategies.Credential{Token: "good", RefreshToken: "fresh2"}, identity.Principal{User: "alice", Roles: []string{"user"}}, nil
	case "spent":
		return strategies.Credential{}, identity.Principal{}, strategies.ErrReused
	case "down":
		return strategies.Credential{}, identity.Principal{}, strategies.ErrUnavailable
	}
	return strategies.Credential{}, identity.Principal{}, strategies.ErrInvalidCredential
}

// scrape returns the admin plane's /metrics page.
func (f *fixture) scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(f.admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// metricValue sums the samples of page whose series is name{…} and whose
// labels include every one of labels (`key="value"`).
func metricValue(t *testing.T, page, name string, labels ...string) float64 {
	t.Helper()
	var sum float64
	found := false
	for _, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				match = false
			}
		}
		if !match {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("parse %q: %v", line, err)
		}
		sum += f
		found = true
	}
	if !found {
		t.Fatalf("no series %s%v on the metrics page", name, labels)
	}
	return sum
}
