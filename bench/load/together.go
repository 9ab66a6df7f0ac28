package load

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// RunTogether drives one phase over several drivers at the same moment:
// one vegeta Attacker at p.Rate in total, whose targeter interleaves the
// drivers in shuffled blocks (every block of len(ds) requests visits each
// driver once, in an order drawn from rng), so each driver gets p.Rate /
// len(ds) and every one of them sees the same machine at the same instant.
// Each driver keeps its own users, credentials, re-logins and
// classification; it returns one PhaseResult per driver, in order, all
// timed from the same start. The drivers' base URLs must differ (a result
// is given back to its driver by URL). Hooks are not supported.
func RunTogether(ctx context.Context, ds []*Driver, p Phase, rng *rand.Rand) ([]*PhaseResult, error) {
	if len(ds) == 0 {
		return nil, errors.New("bench: run together: no driver")
	}
	if p.Rate <= 0 || p.Duration <= 0 {
		return nil, fmt.Errorf("bench: phase %s: rate and duration must be positive", p.Name)
	}
	if len(p.Hooks) > 0 || p.Mix != nil {
		return nil, fmt.Errorf("bench: phase %s: hooks and mixes are not supported when drivers run together", p.Name)
	}
	bases := make([]string, len(ds))
	for i, d := range ds {
		bases[i] = d.cfg.BaseURL + d.cfg.Path + "#"
		for j := range i {
			if bases[j] == bases[i] {
				return nil, fmt.Errorf("bench: run together: drivers %d and %d share %s", j, i, d.cfg.BaseURL)
			}
		}
	}
	prs := make([]*PhaseResult, len(ds))
	for i, d := range ds {
		prs[i] = d.beginPhase(ctx, Phase{Name: p.Name, Rate: p.Rate / float64(len(ds)), Duration: p.Duration, RefreshAhead: p.RefreshAhead})
	}
	blocks := &shuffledBlocks{n: len(ds), rng: rng}
	targeter := func(t *vegeta.Target) error { return ds[blocks.next()].target(t) }
	atk, pacer := newAttack(ds[0].cfg.Timeout, p.Rate)
	cpu0 := SelfCPU()
	start := time.Now()
	for _, pr := range prs {
		pr.Start = start
	}
	// One schedule for the whole attack: vegeta numbers its hits across
	// every driver, so each result's intended send time comes from it.
	sched := newPacing(start, pacer.Freq, pacer.Per)
	results := atk.Attack(targeter, pacer, p.Duration, p.Name)
	stopOnCancel := context.AfterFunc(ctx, func() { atk.Stop() })
	relogCtx, cancel := context.WithCancel(ctx)
	var relogins sync.WaitGroup
	for r := range results {
		i := owner(bases, r.URL)
		if i < 0 {
			continue // never made by the targeter
		}
		ds[i].observe(relogCtx, &relogins, r, sched, prs[i])
	}
	// One generator served every driver: each phase reports its whole
	// wall time and CPU.
	wall, cpu := time.Since(start), SelfCPU()-cpu0
	relogins.Wait()
	cancel()
	stopOnCancel()
	for i, d := range ds {
		prs[i].Wall, prs[i].GeneratorCPU = wall, cpu
		d.endPhase(prs[i])
	}
	return prs, ctx.Err()
}

// owner returns the index of the base rawURL starts with, or -1.
func owner(bases []string, rawURL string) int {
	for i, b := range bases {
		if strings.HasPrefix(rawURL, b) {
			return i
		}
	}
	return -1
}

// shuffledBlocks hands out 0..n-1 in blocks, each a fresh random
// permutation: exactly equal shares, in random order.
type shuffledBlocks struct {
	n   int
	rng *rand.Rand

	mu    sync.Mutex
	block []int
}

func (s *shuffledBlocks) next() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.block) == 0 {
		s.block = s.rng.Perm(s.n)
	}
	i := s.block[0]
	s.block = s.block[1:]
	return i
}
