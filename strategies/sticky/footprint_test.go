package sticky

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/identity"
)

// TestEstimateHeapPerSession holds the written estimate to the heap a
// store of 20,000 sessions really grows by: within 2× either way (the
// scale run's own bound at a million sessions).
func TestEstimateHeapPerSession(t *testing.T) {
	const n = 20_000
	s := newStrategy(t, Config{TTL: time.Hour, MaxSessions: 2 * n, FingerprintKey: testKey})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	toks := make([]string, 0, n)
	for i := range n {
		c, err := s.Login(context.Background(), identity.Principal{User: identity.SeedUsername(i + 1), Roles: []string{identity.RoleUser}})
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, c.Token)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	tokBytes := float64(n) * float64(16+len(toks[0])) // the test's own token slice
	got := (float64(after.HeapAlloc) - float64(before.HeapAlloc) - tokBytes) / n
	want := EstimateHeapPerSession(len(identity.SeedUsername(1)))
	if got < want/2 || got > want*2 {
		t.Fatalf("heap per session %.0f B, estimate %.0f B: not within 2×", got, want)
	}
	t.Logf("heap per session %.0f B, estimate %.0f B", got, want)
	runtime.KeepAlive(toks)
}
