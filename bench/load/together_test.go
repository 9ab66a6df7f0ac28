package load

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/load/loadtest"
)

// TestRunTogetherSplitsEquallyAndKeepsResultsApart: three clusters driven
// by one attack get a third of the rate each, from the same start, and
// each driver sees only its own answers (a session lost in one cluster is
// that driver's alone).
func TestRunTogetherSplitsEquallyAndKeepsResultsApart(t *testing.T) {
	var ds []*Driver
	var clusters []*loadtest.Cluster
	for range 3 {
		cl, srv := loadtest.NewCluster(t, 2, true)
		clusters = append(clusters, cl)
		ds = append(ds, newTestDriver(t, srv.URL, 6))
	}
	clusters[1].Kill("gw1") // its users pinned to gw1 lose their sessions
	prs, err := RunTogether(context.Background(), ds, Phase{Name: "paired", Rate: 300, Duration: time.Second}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if len(prs) != 3 {
		t.Fatalf("%d results", len(prs))
	}
	total := 0
	for i, pr := range prs {
		s := pr.Summary()
		total += s.Requests
		if pr.Rate != 100 || s.RequestedRate != 100 {
			t.Errorf("driver %d: rate %v", i, pr.Rate)
		}
		if want := i == 1; (s.SessionsLost > 0) != want {
			t.Errorf("driver %d: sessions lost %d", i, s.SessionsLost)
		}
		if i != 1 && s.OK != s.Requests {
			t.Errorf("driver %d: %d of %d ok", i, s.OK, s.Requests)
		}
	}
	// Shuffled blocks: the counts differ by at most one block's share.
	for i, pr := range prs {
		if d := len(pr.Records) - len(prs[0].Records); d < -1 || d > 1 {
			t.Errorf("driver %d: %d requests, driver 0: %d", i, len(pr.Records), len(prs[0].Records))
		}
	}
	if total < 150 || total > 300 {
		t.Errorf("%d requests in all, want about 300", total)
	}
}

func TestRunTogetherRefusesSharedBase(t *testing.T) {
	_, srv := loadtest.NewCluster(t, 1, false)
	a, b := newTestDriver(t, srv.URL, 1), newTestDriver(t, srv.URL, 1)
	if _, err := RunTogether(context.Background(), []*Driver{a, b}, Phase{Name: "x", Rate: 10, Duration: time.Second}, rand.New(rand.NewPCG(1, 2))); err == nil {
		t.Fatal("two drivers on one base URL accepted")
	}
}

func TestShuffledBlocksAreEqualShares(t *testing.T) {
	s := &shuffledBlocks{n: 4, rng: rand.New(rand.NewPCG(3, 4))}
	counts := make([]int, 4)
	firsts := map[int]bool{}
	for i := range 400 {
		v := s.next()
		counts[v]++
		if i%4 == 0 {
			firsts[v] = true
		}
	}
	for i, c := range counts {
		if c != 100 {
			t.Errorf("index %d drawn %d times of 400", i, c)
		}
	}
	if len(firsts) < 3 {
		t.Errorf("blocks always start with %v: not shuffled", firsts)
	}
}
