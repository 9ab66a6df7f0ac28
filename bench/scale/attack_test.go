package scale

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// TestAttackAchievedNeverExceedsTheRate: the achieved rate is what was
// sent over the attack's duration, so it cannot read above the rate asked
// (the span to the last result to arrive did, once answers came back out
// of order), and a server answering some requests slowly does not change
// that.
func TestAttackAchievedNeverExceedsTheRate(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("slow") == "1" {
			time.Sleep(30 * time.Millisecond) // out-of-order completions, not a synchronisation
		}
	}))
	defer srv.Close()
	targeter := func(tgt *vegeta.Target) error {
		tgt.Method, tgt.URL = http.MethodGet, srv.URL+"/"
		if n.Add(1)%2 == 0 {
			tgt.URL += "?slow=1"
		}
		return nil
	}
	const rate = 200.0
	o := attack(context.Background(), targeter, rate, 500*time.Millisecond, "test")
	sent := len(o.lats) + o.failures()
	if sent == 0 || o.failures() != 0 {
		t.Fatalf("sent %d, failed %v", sent, o.failed)
	}
	if o.achieved > rate || o.achieved <= 0 {
		t.Errorf("achieved %.1f/s for %d requests in 0.5 s at %.0f/s; want (0, %.0f]", o.achieved, sent, rate, rate)
	}
	if want := float64(sent) / 0.5; o.achieved != want {
		t.Errorf("achieved %.1f/s, want sent/duration = %.1f/s", o.achieved, want)
	}
}
