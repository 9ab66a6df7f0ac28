package load

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/authlab/authlab/bench/report"
)

// picker chooses the user of the next request.
type picker interface {
	// pick returns a user index in [0, n).
	pick() uint64
}

// roundRobin sends every user's requests in turn: each user the same
// share, the default.
type roundRobin struct {
	next uint64
	n    uint64
}

func (r *roundRobin) pick() uint64 {
	i := r.next % r.n
	r.next++
	return i
}

// zipfPicker draws users from a Zipf distribution over their index:
// user 0 (user0001) is the heaviest, user i gets a share ∝ 1/(i+1)^s.
// The draw is seeded, so two runs with the same seed and skew send the
// same sequence of users. math/rand/v2's Zipf is the standard library's
// (rejection-inversion sampling, Hörmann & Derflinger), hence no library.
type zipfPicker struct{ z *rand.Zipf }

// newZipf returns a picker over n users with exponent s (> 1, as
// rand.NewZipf requires).
func newZipf(n int, s float64, seed uint64) (*zipfPicker, error) {
	if s <= 1 {
		return nil, fmt.Errorf("zipf exponent %v: want > 1 (0 for every user in turn)", s)
	}
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), s, 1, uint64(n-1))
	if z == nil {
		return nil, fmt.Errorf("zipf over %d users with exponent %v refused", n, s)
	}
	return &zipfPicker{z: z}, nil
}

func (p *zipfPicker) pick() uint64 { return p.z.Uint64() }

// Traffic summarises who sent a phase's requests: how skewed they were.
func Traffic(records []Record, users int, skew float64) *report.Traffic {
	if len(records) == 0 || users == 0 {
		return nil
	}
	counts := make([]int, users)
	for _, r := range records {
		if r.User >= 0 && r.User < users {
			counts[r.User]++
		}
	}
	slices.SortFunc(counts, func(a, b int) int { return b - a })
	share := func(frac float64) float64 {
		k := max(1, int(float64(users)*frac))
		n := 0
		for _, c := range counts[:k] {
			n += c
		}
		return report.Round3(float64(n) / float64(len(records)))
	}
	t := &report.Traffic{Distribution: "round-robin", Skew: skew, TopUserShare: share(0), Top1PctShare: share(0.01), Top10PctShare: share(0.10)}
	if skew > 0 {
		t.Distribution = "zipf"
	}
	for _, c := range counts {
		if c > 0 {
			t.ActiveUsers++
		}
	}
	return t
}
