package scale

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authlab/authlab/bench/load"
)

// probe sends GET /api/me at cfg.Rate for cfg.Duration through the lb,
// each request with the credential of one of the first n sessions of c,
// drawn Zipf with cfg.Skew over their order (or uniformly), and reads the
// gateway's cache counters before and after. The users are drawn before
// the attack, so that those whose credential would expire before the
// probe ends (jwt's access tokens live minutes; the sizes before took
// longer) get a fresh one first, minted the same way. Latency is measured
// from each request's intended send time.
func probe(ctx context.Context, cfg ProbeConfig, base string, gw *gatewayAdmin, c *creds, n int) (*Probe, error) {
	seq := drawUsers(cfg, c, n)
	if err := refreshExpiring(ctx, gw, c, seq, time.Now().Add(cfg.Duration+10*time.Second)); err != nil {
		return nil, err
	}
	header := func(tok string) http.Header {
		h := http.Header{}
		switch gw.caps.Transport {
		case "cookie":
			h.Set("Cookie", gw.caps.CookieName+"="+tok)
		case "bearer":
			h.Set("Authorization", "Bearer "+tok)
		}
		return h
	}
	var mu sync.Mutex // vegeta's workers call the targeter concurrently
	next := 0
	targeter := func(t *vegeta.Target) error {
		mu.Lock()
		i := seq[next%len(seq)]
		next++
		mu.Unlock()
		t.Method, t.URL, t.Header, t.Body = http.MethodGet, base+"/api/me", header(c.tokens[i]), nil
		return nil
	}
	before, err := gw.stats(ctx)
	if err != nil {
		return nil, err
	}
	o := attack(ctx, targeter, cfg.Rate, cfg.Duration, "probe")
	after, err := gw.stats(ctx)
	if err != nil {
		return nil, err
	}
	// The users of the requests sent (the draw holds a tenth more).
	seen := make(map[int]bool)
	for _, i := range seq[:min(next, len(seq))] {
		seen[i] = true
	}
	p := &Probe{Requests: len(o.lats) + o.failures(), Errors: o.failures(), ErrorsByClass: o.failed, Achieved: o.achieved, Distinct: len(seen)}
	p.P50Ms, p.P99Ms = quantileMs(o.lats, 0.5), quantileMs(o.lats, 0.99)
	if before.CacheHits != nil && after.CacheHits != nil && before.CacheMisses != nil && after.CacheMisses != nil {
		h := float64(*after.CacheHits - *before.CacheHits)
		m := float64(*after.CacheMisses - *before.CacheMisses)
		if h+m > 0 {
			r := h / (h + m)
			p.CacheHitRatio = &r
		}
	}
	return p, nil
}

// drawUsers draws the indices (into c) of the requests of a probe over
// the first n sessions: rate × duration of them, and a tenth more for a
// generator running late; sessions whose preload failed are skipped.
func drawUsers(cfg ProbeConfig, c *creds, n int) []int {
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed+1))
	pick := func() int { return r.IntN(n) }
	if cfg.Skew > 1 && n > 1 {
		z := rand.NewZipf(rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), cfg.Skew, 1, uint64(n-1))
		pick = func() int { return int(z.Uint64()) }
	}
	count := int(math.Ceil(cfg.Rate*cfg.Duration.Seconds()*1.1)) + 1
	seq := make([]int, 0, count)
	for len(seq) < count {
		i := pick()
		for tries := 0; c.tokens[i] == "" && tries < n; tries++ {
			i = (i + 1) % n
		}
		seq = append(seq, i)
	}
	return seq
}

// refreshExpiring mints new credentials for the users of seq whose
// credential expires before deadline.
func refreshExpiring(ctx context.Context, gw *gatewayAdmin, c *creds, seq []int, deadline time.Time) error {
	var idx, users []int
	seen := make(map[int]bool)
	for _, i := range seq {
		if e := c.expires[i]; e != 0 && e <= deadline.Unix() && !seen[i] {
			seen[i] = true
			idx, users = append(idx, i), append(users, c.first+i)
		}
	}
	if len(users) == 0 {
		return nil
	}
	r, err := gw.preloadUsers(ctx, users)
	if err != nil {
		return fmt.Errorf("fresh credentials for %d users: %w", len(users), err)
	}
	if len(r.Tokens) != len(idx) {
		return fmt.Errorf("fresh credentials: %d asked, %d answered", len(idx), len(r.Tokens))
	}
	for k, i := range idx {
		c.tokens[i], c.expires[i] = r.Tokens[k], r.Expires[k]
	}
	return nil
}

// outcome is what an attack saw.
type outcome struct {
	// lats are the latencies of the requests answered 2xx, from their
	// intended send time (failed requests' are not mixed in).
	lats []time.Duration
	// failed counts the others by class: the status code, or "timeout" or
	// "no answer" when there was none.
	failed   map[string]int
	achieved float64 // requests sent per second of the attack
}

func (o outcome) failures() int {
	n := 0
	for _, v := range o.failed {
		n += v
	}
	return n
}

// failureClass names the class of a result that was not a 2xx.
func failureClass(r *vegeta.Result) string {
	switch {
	case r.Code != 0:
		return strconv.Itoa(int(r.Code))
	case strings.Contains(r.Error, "Timeout") || strings.Contains(r.Error, "timeout"):
		return "timeout"
	}
	return "no answer"
}

// attack runs a constant-rate vegeta attack of targeter for d.
func attack(ctx context.Context, targeter vegeta.Targeter, rate float64, d time.Duration, name string) outcome {
	atk, pacer := load.NewAttack(10*time.Second, rate)
	o := outcome{failed: map[string]int{}}
	sched := load.NewSchedule(time.Now(), pacer)
	results := atk.Attack(targeter, pacer, d, name)
	for {
		select {
		case <-ctx.Done():
			atk.Stop()
			for range results {
			}
			return o
		case r, ok := <-results:
			if !ok {
				// vegeta sends no hit once d has passed, so what it sent
				// over d is the rate achieved. (Dividing by the span to the
				// last result's send time read above the rate asked: results
				// come in the order they complete, not the order sent.)
				o.achieved = float64(len(o.lats)+o.failures()) / d.Seconds()
				return o
			}
			if r.Code/100 != 2 {
				o.failed[failureClass(r)]++
				continue
			}
			o.lats = append(o.lats, sched.Latency(r))
		}
	}
}

func quantileMs(lats []time.Duration, q float64) float64 {
	if len(lats) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), lats...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return ms(s[max(i, 0)])
}
